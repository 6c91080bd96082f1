"""The `ad` step: click the ad like a prospect, and check where it lands and what the page says.

The click is followed in the real browser so every hop counts (HTTP 3xx, meta
refresh, JavaScript trackers); then, in this order, the step fails with
`redirect_loop` (a loop or more than 15 hops), `http_status` (the final page
answered 4xx/5xx), `wrong_landing` (the final URL is not under `landing_url`;
query ignored), `lost_param` (a `keep_params` name on the ad URL missing or
changed on the way; added ones such as `_gl` are fine) or `message_mismatch`
(the page does not carry the ad's promise, see `message_match.py`).

Evidence, `ctx.evidence["ad"]`:

    {"url": ad URL as clicked,
     "chain": [{"url", "status", "kind": "http"|"meta_refresh"|"js"|"history"|"final", "t_s"}, ...],
     "hops": number of hops, "final_url", "status", "load_s" (final page), "total_s" (whole click),
     "params": {"kept": [...], "lost": [{"param", "expected", "got", "hop", "url"}]},
     "match": {"score", "min_match", "items": [{"promise", "kind", "found", "found_in", "page_says"}],
               "conflicts": [...same shape...]}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, field_validator

from ..errors import StepFailed
from ..fields import Strict, StrList, web_url
from ..results import Category
from .base import EvidenceKit, StepKind
from .message_match import MatchResult, match_message
from .page_quiet import read_until
from .pagekit import Navigation, navigate, visible_text

if TYPE_CHECKING:
    from .base import StepContext

#: The longest a page whose copy keeps changing is re-read (SPAs fetch it after load); a settled page is judged at once.
COPY_WAIT_CAP_S = 4.0


class AdSection(Strict):
    url: str
    headline: str | None = None
    promise: StrList = []
    landing_url: str | None = None
    keep_params: StrList = []
    min_match: float = Field(0.8, ge=0, le=1)

    _url_is_web = field_validator("url")(web_url)


class Ad(StepKind):
    """The ad click-through."""

    name = "ad"
    title = "Ad click-through"
    model = AdSection

    def starts_page(self, section: AdSection) -> bool:
        return True

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        if not isinstance(value, dict):
            return kit.facts(self.title, value)
        chain, match = kit.chain(value.get("chain")), kit.match(value.get("match"))
        skip = {k for k, shown in (("chain", chain), ("match", match)) if shown}
        return chain + match + kit.facts(self.title, value, skip)

    async def run(self, ctx: "StepContext", section: AdSection) -> None:
        url = ctx.fill_placeholders(section.url)
        facts: dict[str, Any] = {"url": url}
        ctx.evidence["ad"] = facts
        try:
            nav = await navigate(ctx, url)
        except StepFailed as failure:
            facts["chain"] = failure.evidence.pop("chain", [])
            facts["hops"] = max(0, len(facts["chain"]) - 1)
            raise
        ctx.evidence["_navigation"] = nav
        facts.update(chain=nav.chain(), hops=max(0, len(nav.hops) - 1), final_url=nav.final_url, status=nav.status,
                     load_s=round(nav.ready_s, 2), total_s=round(nav.total_s, 2))
        if nav.status is not None and nav.status >= 400:
            raise StepFailed(Category.HTTP_STATUS, f"the ad lands on {nav.final_url}, which answered HTTP {nav.status}")
        if section.landing_url:
            expected = ctx.fill_placeholders(section.landing_url)
            if not under(nav.final_url, expected):
                raise StepFailed(Category.WRONG_LANDING, f"the ad lands on {_no_query(nav.final_url)}, not on {expected}")
        kept, lost = track_params(url, nav, section.keep_params)
        facts["params"] = {"kept": kept, "lost": lost}
        if lost:
            raise StepFailed(Category.LOST_PARAM, _lost_reason(lost[0], len(lost)))
        if section.headline or section.promise:
            result = await read_and_match(ctx, section)
            facts["match"] = result.as_evidence()
            if not result.passed:
                raise StepFailed(Category.MESSAGE_MISMATCH, result.reason(_no_query(ctx.page.url)))


async def read_and_match(ctx: "StepContext", section: AdSection) -> MatchResult:
    """Match the rendered page, re-reading while copy may still arrive: until the page settles (`page_quiet`)."""
    async def matched(page: Any) -> MatchResult:
        return match_message(await visible_text(page), section.headline, list(section.promise), section.min_match)

    return await read_until(ctx, matched, lambda result: result.passed, cap_s=min(COPY_WAIT_CAP_S, ctx.timeout_s / 3))


def under(final_url: str, expected_url: str) -> bool:
    """The final URL is the expected page: same host, path under the expected path; query ignored."""
    final, expected = urlsplit(final_url), urlsplit(expected_url)
    if expected.netloc and final.netloc.lower() != expected.netloc.lower():
        return False
    want = expected.path.rstrip("/")
    return final.path == want or final.path.startswith(want + "/") or final.path.rstrip("/") == want or not want


def track_params(ad_url: str, nav: Navigation, keep: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Which kept params survived every hop, and for each lost one, the hop where it vanished or changed."""
    sent = parse_qs(urlsplit(ad_url).query, keep_blank_values=True)
    kept: list[str] = []
    lost: list[dict[str, Any]] = []
    urls = [hop.url for hop in nav.hops] or [ad_url]
    if urls[-1] != nav.final_url:
        urls.append(nav.final_url)
    for name in keep:
        if name not in sent:
            continue
        expected = sent[name][0]
        for index, hop_url in enumerate(urls):
            got = parse_qs(urlsplit(hop_url).query, keep_blank_values=True).get(name, [None])[0]
            if got != expected:
                previous = nav.hops[index - 1] if 0 < index <= len(nav.hops) else None
                lost.append({"param": name, "expected": expected, "got": got, "hop": index, "url": hop_url,
                             "from": previous.url if previous else None, "via": _via(previous)})
                break
        else:
            kept.append(name)
    return kept, lost


def _via(hop: Any) -> str | None:
    if hop is None:
        return None
    if hop.kind == "http":
        return f"HTTP {hop.status}"
    return {"meta_refresh": "meta refresh", "js": "JavaScript redirect", "history": "URL rewrite by the page"}.get(hop.kind, hop.kind)


def _lost_reason(first: dict[str, Any], count: int) -> str:
    what = "vanished" if first["got"] is None else f"changed to '{first['got']}'"
    where = (f"at hop {first['hop']} ({_no_query(first['from'])} → {_no_query(first['url'])}, {first['via']})"
             if first["from"] else f"on {first['url']}")
    more = f" (and {count - 1} more parameter{'s' if count > 2 else ''})" if count > 1 else ""
    return f"tracking parameter '{first['param']}' {what} {where}{more}"


def _no_query(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()
