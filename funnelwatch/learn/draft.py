"""The check file `new` writes: every section from what was seen, every guess with its reason.

Pure: it gets what the browser saw (`look.Discovery`), the fill plan
(`guess.FillPlan`) and, with `--learn`, what the good run looked like
(`record.Learned`), and returns the document for `yamltext.render`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..units import format_size
from .guess import FillPlan, describe
from .look import Discovery, FoundLeadForm
from .record import Learned, distinctive_phrase, min_size_of, subject_phrase, suggest_within, title_of
from .yamltext import Mapping, clean

#: Query parameters that carry attribution: the landing page must keep them.
TRACKING = re.compile(r"^(utm_[a-z_]+|gclid|gbraid|wbraid|dclid|gclsrc|fbclid|msclkid|ttclid|twclid|li_fat_id|epik|rdt_cid|sccid|"
                      r"yclid|mc_cid|mc_eid|_hsenc|_hsmi|hsa_[a-z_]+|mkt_tok|irclickid|ref|source)$", re.I)
MIN_MAX_LOAD_S = 5
LOAD_HEADROOM = 3


@dataclass
class AdFacts:
    click_url: str
    landing_url: str
    kept: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def ad_facts(click_url: str, final_url: str) -> AdFacts:
    """Where the click landed (no query) and which of its tracking parameters arrived with it."""
    sent = [(k, v) for k, v in parse_qsl(urlsplit(click_url).query, keep_blank_values=True) if TRACKING.match(k)]
    arrived = dict(parse_qsl(urlsplit(final_url).query, keep_blank_values=True))
    kept = [k for k, v in sent if arrived.get(k) == v]
    lost = [k for k, _ in sent if k not in kept]
    landing = urlunsplit(urlsplit(final_url)._replace(query="", fragment=""))
    return AdFacts(click_url, landing, list(dict.fromkeys(kept)), list(dict.fromkeys(lost)))


def max_load(seconds: float) -> tuple[str, str]:
    value = max(MIN_MAX_LOAD_S, math.ceil(seconds * LOAD_HEADROOM))
    return f"{value}s", f"loaded in {seconds:.1f}s here; {LOAD_HEADROOM}x headroom, at least {MIN_MAX_LOAD_S}s"


def name_of(discovery: Discovery, url: str) -> tuple[str, str]:
    """The check's name: the page's main heading, else its title, else its address."""
    if clean(discovery.heading, 80):
        return clean(discovery.heading, 80), "the page's main heading"
    if clean(discovery.title, 80):
        return clean(discovery.title, 80), "the page's title"
    parts = urlsplit(url)
    return clean(f"{parts.hostname}{parts.path}", 80), "the page's address"


@dataclass
class Draft:
    name: str
    name_why: str
    url: str
    viewport: str
    discovery: Discovery
    form: FoundLeadForm
    plan: FillPlan
    ad: AdFacts | None = None
    learned: Learned | None = None
    learn: bool = False
    inbox: bool = False
    #: Values typed into the form (to keep them out of learned phrases).
    personal: list[str] = field(default_factory=list)

    def document(self) -> Mapping:
        doc = Mapping()
        doc.add("name", self.name, self.name_why if self.name_why != "given with --name" else "")
        if self.viewport != "desktop":
            doc.add("viewports", [self.viewport], "--viewport")
        if self.ad is not None:
            doc.add("ad", self._ad())
        doc.add("landing", self._landing())
        doc.add("form", self._form())
        if self.learned is not None:
            asset = self._asset()
            if asset is not None:
                doc.add("asset", asset)
            # TODO(conversions): once the `conversions` kind has landed, write `self.learned.conversions`
            # (filled by `record.record_conversions`) as the check's `conversions:` list here.
        return doc

    def header(self) -> list[str]:
        lines = [f"Written by `funnelwatch new {'--learn ' if self.learn else ''}{self.url}` ({self.viewport})."]
        lines.append("Each comment says what a value was guessed from; edit freely, then run `funnelwatch validate`.")
        if self.learned is not None:
            lines.append("Learned from one real test submission: later runs fail when any of it changes.")
            lines.append("Conversion tags: not recorded yet (the conversions: section comes with that step kind).")
        return lines

    # --- sections --------------------------------------------------------------

    def _ad(self) -> Mapping:
        ad = self.ad
        assert ad is not None
        section = Mapping()
        section.add("url", ad.click_url, "--ad-url")
        given = urlunsplit(urlsplit(self.url)._replace(query="", fragment=""))
        elsewhere = "" if given.rstrip("/") == ad.landing_url.rstrip("/") else f" (not {given}, the URL given)"
        section.add("landing_url", ad.landing_url, f"where the click landed{elsewhere}")
        if ad.kept:
            section.add("keep_params", ad.kept, "tracking parameters the landing page kept")
        above = [f"lost on the way (not kept, so not checked): {', '.join(ad.lost)}"] if ad.lost else []
        if above:
            section.items[-1].above = above if ad.kept else []
            if not ad.kept:
                section.after.append(above[0])
        section.after.append("promise: [the ad's headline words, its offer, its numbers]   # fill in from the ad: the page must carry them")
        return section

    def _landing(self) -> Mapping:
        d = self.discovery
        section = Mapping()
        if self.ad is None:
            section.add("url", self.url, "the URL given to `funnelwatch new`")
        phrase = clean(d.heading, 80) or clean(d.title, 80)
        if phrase:
            section.add("must_show", [phrase], "the page's main heading" if clean(d.heading, 80) else "the page's title")
        value, why = max_load(d.nav.ready_s)
        section.add("max_load", value, why)
        if d.banner:
            what = (f"the consent banner's '{clean(d.banner['text'], 40)}' button in a fixed overlay" if d.banner.get("text")
                    else f"{d.banner['tool']} consent banner")
            section.add("dismiss", d.banner["selector"], f"{what}, dismissed on the way in")
        return section

    def _form(self) -> Mapping:
        form, info = self.form, self.form.info
        section = Mapping()
        where = ""
        if form.in_iframe:
            cross = " (cross-origin)" if _origin(form.frame_url) != _origin(self.discovery.nav.final_url) else ""
            where = f" in an iframe from {_origin(form.frame_url)}{cross}"
        others = [f for f in self.discovery.email_forms if f is not form]
        above = [f"other forms with an email field: {', '.join(_form_name(f) for f in others)} — not this one"] if others else []
        visible_fields = [f for f in info["fields"] if f["kind"] != "hidden"]
        if info.get("selector"):
            section.add("selector", info["selector"],
                        f"the form with an email field{where} ({len(visible_fields)} visible fields)", above)
            above = []
        fill = Mapping()
        for guess in self.plan.fill:
            fill.add(guess.key, guess.value, guess.why)
        hidden = [f.get("name") or f.get("id") for f in info["fields"] if f["kind"] == "hidden" and (f.get("name") or f.get("id"))]
        left = list(self.plan.left)
        if hidden:
            left.append(f"hidden, the site's own: {', '.join(hidden[:8])}{' …' if len(hidden) > 8 else ''}")
        fill.after.extend(f"left alone: {line}" for line in left)
        section.add("fill", fill, f"the form{where}" if where and not info.get("selector") else "", above)
        button = info.get("button") or {}
        if button.get("selector"):
            section.add("submit", button["selector"], f"the form's '{clean(button.get('text', ''), 40)}' button")
        learned = self.learned
        if learned is not None and (learned.url_contains or learned.text):
            success = Mapping()
            if learned.url_contains:
                success.add("url_contains", learned.url_contains, "where the test submission landed")
            if learned.text:
                success.add("text", learned.text, "what the page said after the test submission")
            section.add("success", success)
        elif learned is None:
            section.after += ["success:                      # run `funnelwatch new --learn URL` to record it, or write what",
                              "  url_contains: /thank-you    # the thank-you page shows (URL part, text, or both)",
                              "  text: Thank you"]
        return section

    def _asset(self) -> Mapping | None:
        learned = self.learned
        assert learned is not None
        if learned.email is None:
            if not self.inbox:
                learned.notes.append("no inbox: section in config/funnelwatch.yaml, so the delivery email was not learned")
            else:
                learned.notes.append("no email reached the inbox while `new` waited, so no asset: section was written")
            return None
        email = learned.email
        section = Mapping()
        mail = Mapping()
        subject = subject_phrase(email.subject, self.personal)
        if subject:
            mail.add("subject_contains", subject, "the subject of the email that arrived")
        if learned.delay_s is not None:
            within, why = suggest_within(learned.delay_s)
            mail.add("within", within, why)
        others = [s for s in learned.other_subjects if s != email.subject]
        section.add("email", mail, "", [f"also arrived: {', '.join(repr(clean(s, 60)) for s in others[:3])}"] if others else [])
        asset = learned.asset
        if asset is None:
            section.after.append(f"no asset learned: {learned.asset_problem or 'none found'}")
            return section
        if asset.source == "attachment":
            section.add("attachment", True, f"the email carried '{clean(asset.filename, 60) or 'a file'}'")
        else:
            section.add("link_text", asset.link_text, "the email's link to the asset")
        facts = asset.facts
        expect = Mapping()
        kind = facts.kind if facts.kind in ("pdf", "docx", "html") else "any"
        expect.add("type", kind, f"the file was a {facts.kind_name}")
        title = title_of(facts)
        if title:
            expect.add("title_contains", title, "the asset's title" if clean(facts.title) else "the asset's first heading")
        phrase = distinctive_phrase(facts, title)
        if phrase:
            expect.add("text_contains", [phrase], "a line of its text another document would not have")
        if facts.size:
            expect.add("min_size", min_size_of(facts.size), f"half of the {format_size(facts.size)} received")
        section.add("expect", expect)
        return section


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _form_name(form: FoundLeadForm) -> str:
    info = form.info
    fields = [describe(f) for f in info["fields"] if f["kind"] != "hidden"]
    named = info.get("selector") or (f"form #{info['index'] + 1}")
    return f"{named} ({len(fields)} field{'s' if len(fields) != 1 else ''})"
