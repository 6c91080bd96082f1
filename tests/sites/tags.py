"""A lead funnel whose thank-you page loads a tag-manager stand-in, and a collector that counts what reaches it.

The stand-in (`/tm-<slug>.js`) sends hits in the real vendors' formats, each
by another transport: GA4 as one batched `sendBeacon` body (page_view and
generate_lead on two lines), the Meta pixel as an image GET (PageView) and a
multipart `fetch` keepalive POST (Lead), Google Ads as an image
(`/pagead/conversion/`) and an XHR (`/pagead/viewthroughconversion/`),
LinkedIn Insight as a `fetch` keepalive. They go to `collector` — another
loopback origin, as google-analytics.com is — or to the site's own origin
(server-side tagging).

    collector = Collector().start()
    path = install(site, "ok", collector.base)
"""

from __future__ import annotations

import json

from funnelwatch.demo.server import LocalSite, Request, Response

GA4, OTHER_GA4, PIXEL, ADS, ADS_LABEL, PARTNER, LI_CONVERSION = (
    "G-ABC123XYZ", "G-OTHER999", "1234567890", "123456789", "AbC-D_efG-hIjk", "123456", "789")
COLLECTOR_PATHS = ("/g/collect", "/tr/", "/tr", f"/pagead/conversion/{ADS}/", f"/pagead/viewthroughconversion/{ADS}/", "/collect")

FORM = """<title>Spring checklist</title><h1>Free HIPAA checklist</h1>
<form id="download" method="post" action="/lead/tags-{slug}">
  <label>Work email <input type="email" name="email" required></label>
  <button type="submit">Download now</button>
</form>{extra}"""
THANKS = "<title>Thank you</title><h1>Thank you!</h1><p>Check your inbox.</p><script src='/tm-{slug}.js'></script>"

SEND = """
const C = %(collector)s;
function ga4(tid, lines) { navigator.sendBeacon(C + '/g/collect?v=2&tid=' + tid + '&cid=1.2&cu=EUR', lines.join('\\n')); }
function metaImage(ev) { new Image().src = C + '/tr/?id=%(pixel)s&ev=' + ev + '&noscript=1'; }
function metaPost(ev, value) {
  const body = new FormData();
  body.append('id', '%(pixel)s'); body.append('ev', ev); body.append('cd[value]', value); body.append('cd[currency]', 'EUR');
  fetch(C + '/tr/', {method: 'POST', body, keepalive: true, mode: 'no-cors'});
}
function ads() {
  new Image().src = C + '/pagead/conversion/%(ads)s/?label=%(label)s&value=49.00&currency_code=EUR&guid=ON';
  const x = new XMLHttpRequest(); x.open('GET', C + '/pagead/viewthroughconversion/%(ads)s/?label=%(label)s&random=1'); x.send();
}
function linkedin() {
  fetch(C + '/collect?v=2&fmt=js&pid=%(partner)s&conversionId=%(li)s&url=' + encodeURIComponent(location.href), {keepalive: true, mode: 'no-cors'});
}
"""

#: What each variant's thank-you page fires (JavaScript calls of SEND's helpers).
THANK_YOU_FIRES = {
    "ok": "ga4('%(ga4)s', ['en=page_view&_et=1', 'en=generate_lead&_et=2&epn.value=49.00']); metaImage('PageView'); metaPost('Lead', '49.00'); ads(); linkedin();",
    "no_conversion": "ga4('%(ga4)s', ['en=page_view&_et=1']); metaImage('PageView'); metaPost('Lead', '49.00'); ads(); linkedin();",
    "wrong_id": "ga4('%(ga4)s', ['en=page_view&_et=1']); ga4('%(other)s', ['en=generate_lead&epn.value=49.00']);",
    "meta_pageview": "ga4('%(ga4)s', ['en=page_view&_et=1', 'en=generate_lead&epn.value=49.00']); metaImage('PageView');",
    "value_mismatch": "ga4('%(ga4)s', ['en=page_view&_et=1', 'en=generate_lead&_et=2&epn.value=10.00']); metaPost('Lead', '49.00');",
    "early": "ga4('%(ga4)s', ['en=page_view&_et=1', 'en=generate_lead&epn.value=49.00']);",
    "unload": "ga4('%(ga4)s', ['en=page_view&_et=1']);",
    "unrelated_collect": "fetch('/collect?event=signup&tid=none', {method: 'POST', body: 'en=generate_lead'});",
    "own_tag": "new Image().src = C + '/hit?id=5&ev=lead';",
    "page_views": "ga4('%(ga4)s', ['en=page_view&_et=1', 'en=user_engagement&_et=2']); metaImage('PageView');",
    "late": "setTimeout(() => ga4('%(ga4)s', ['en=generate_lead&epn.value=49.00']), 600);",
}
#: What each variant's landing page (the form's page) fires.
LANDING_FIRES = {
    "early": "ga4('%(ga4)s', ['en=page_view&_et=1', 'en=generate_lead&epn.value=49.00']);",
    "unload": "addEventListener('pagehide', () => ga4('%(ga4)s', ['en=generate_lead&epn.value=49.00']));",
    "landing_only": "ga4('%(ga4)s', ['en=page_view&_et=1']);",
}


def _script(collector: str, calls: str) -> str:
    values = {"collector": json.dumps(collector), "pixel": PIXEL, "ads": ADS, "label": ADS_LABEL, "partner": PARTNER,
              "li": LI_CONVERSION, "ga4": GA4, "other": OTHER_GA4}
    return (SEND % values) + (calls % values)


def install(site: LocalSite, variant: str, collector: str, slug: str | None = None) -> str:
    """Landing page with the lead form, its endpoint, the thank-you page and the stand-in; returns the landing path.

    `collector` is where hits go: another origin's base URL, or "" for the site's own (server-side tagging).
    """
    slug = slug or variant
    landing = LANDING_FIRES.get(variant)
    extra = f"<script>{_script(collector, landing)}</script>" if landing else ""
    site.page(f"/lp/tags-{slug}", FORM.format(slug=slug, extra=extra))
    site.route(f"/lead/tags-{slug}", lambda _: Response(303, "", {"Location": f"/thank-you-tags-{slug}"}))
    site.page(f"/thank-you-tags-{slug}", THANKS.format(slug=slug))
    fires = THANK_YOU_FIRES.get(variant, "")
    site.file(f"/tm-{slug}.js", _script(collector, fires).encode(), "text/javascript")
    return f"/lp/tags-{slug}"


class Collector(LocalSite):
    """The analytics and ad platforms' collection endpoints, on a loopback origin of their own: it counts what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        for path in COLLECTOR_PATHS:
            self.route(path, _empty)

    def hits(self, path: str | None = None) -> list[Request]:  # type: ignore[override]
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]


def _empty(_: Request) -> Response:
    return Response(204, b"", {"Access-Control-Allow-Origin": "*"}, "text/plain")
