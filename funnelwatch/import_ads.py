"""`funnelwatch import-ads FILE.csv`: turn an ads export into ad checks.

Reads a Google Ads Editor export (Final URL, Headline 1..15, Description 1..4,
Path 1/2, Tracking template, Final URL suffix) or a Meta Ads Manager export
(Link / Website URL, Headline / Title, Primary text / Body, URL parameters /
URL Tags), in UTF-8 or UTF-16, comma- or tab-separated. One check per unique
final URL + headline set; the headlines are the promises. Never overwrites a
file without `force`.

    for written in import_ads(Path("ads.csv"), Path("checks")):
        print(written.action, written.path)
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import yaml

from .errors import FunnelwatchError
from .steps.message_match import numbers
from .text import one_line, short_hash, slugify

#: Click ids the ad networks add to every click; the landing page must keep them for attribution.
CLICK_IDS = {"google": "gclid", "meta": "fbclid"}
CLICK_ID_VALUE = "FW-TEST"
DEFAULT_MIN_MATCH = {"google": 0.5, "meta": 0.8}
_REMOVED = {"removed", "deleted", "archived"}
_GOOGLE_HEADLINES = [f"headline {i}" for i in range(1, 16)]
_GOOGLE_DESCRIPTIONS = [f"description {i}" for i in range(1, 5)]
_META_COLUMNS = {
    "link": ("link", "website url", "link (object url)"),
    "headline": ("headline", "title", "link title"),
    "text": ("primary text", "body"),
    "params": ("url parameters", "url tags"),
    "campaign": ("campaign name", "campaign"),
    "group": ("ad set name", "ad set"),
    "ad": ("ad name",),
    "status": ("ad status", "status"),
}


@dataclass
class ImportedAd:
    """One ad as a funnel to check, whatever network it came from."""

    network: str
    row: int
    campaign: str
    group: str
    url: str
    landing_url: str
    headlines: list[str]
    keep_params: list[str]
    texts: list[str] = field(default_factory=list)
    display_path: str = ""

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.landing_url, tuple(h.casefold() for h in self.headlines)


@dataclass
class Written:
    path: Path
    action: str  # "wrote" | "overwrote" | "kept"
    name: str


def import_ads(csv_path: Path, checks_dir: Path, force: bool = False, refused: list[str] | None = None) -> list[Written]:
    """Write one check file per unique ad of the export; existing files are kept unless `force`.

    A row whose link is not an http(s) URL is not imported: one line per row is added to `refused`.
    """
    ads = read_export(csv_path, refused)
    checks_dir.mkdir(parents=True, exist_ok=True)
    results: list[Written] = []
    used_names: set[str] = set()
    for ad in ads:
        name = _unique(_name_of(ad), used_names)
        path = checks_dir / f"{_slug(name)}.yaml"
        existed = path.exists()
        if existed and not force:
            results.append(Written(path, "kept", name))
            continue
        path.write_text(render_check(ad, name, csv_path.name), encoding="utf-8")
        results.append(Written(path, "overwrote" if existed else "wrote", name))
    return results


def read_export(csv_path: Path, refused: list[str] | None = None) -> list[ImportedAd]:
    """The unique ads of a Google Ads Editor or Meta Ads Manager export (rows with a non-http(s) link
    are left out, each with a line in `refused`)."""
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise FunnelwatchError(f"cannot read {csv_path}: {exc.strerror}") from None
    header_index, rows = _rows(_decode(raw))
    if not rows:
        raise FunnelwatchError(f"{csv_path}: no header row found — expected a Google Ads Editor export "
                               "(Final URL, Headline 1, …) or a Meta Ads Manager export (Link, Headline, …)")
    header = [h.strip().casefold() for h in rows[0]]
    if "final url" in header and "headline 1" in header:
        parse, network = _google_ad, "google"
    elif any(c in header for c in _META_COLUMNS["link"]) and any(c in header for c in _META_COLUMNS["headline"]):
        parse, network = _meta_ad, "meta"
    else:
        raise FunnelwatchError(f"{csv_path}: columns not recognised ({', '.join(rows[0][:8])}, …) — expected a Google Ads "
                               "Editor export (Final URL, Headline 1, …) or a Meta Ads Manager export (Link, Headline, …)")
    unique: dict[tuple[str, tuple[str, ...]], ImportedAd] = {}
    for offset, values in enumerate(rows[1:], start=2):
        record = {header[i]: v.strip() for i, v in enumerate(values) if i < len(header)}
        ad = parse(record, header_index + offset)
        if ad is None:
            continue
        problem = _not_web(ad)
        if problem:
            if refused is not None:
                refused.append(f"{csv_path.name} row {ad.row}: {problem} — not imported; fix the ad's link in the export")
            continue
        unique.setdefault(ad.key, ad)
    if not unique:
        raise FunnelwatchError(f"{csv_path}: no {network} ads with a final URL and a headline found")
    return list(unique.values())


def _not_web(ad: ImportedAd) -> str | None:
    """Why the browser must not open this ad's link (file://, javascript:, data:, no host), if it must not."""
    for what, url in (("the link", ad.landing_url), ("the click URL", ad.url)):
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            shown = url if len(url) <= 60 else url[:57] + "..."
            return f"{what} '{one_line(shown)}' is not an http(s) URL"
    return None


def _escape_variables(value: object) -> object:
    """Ad text is never a `${VAR}` reference: `${` is written `$${`, which config reads as a literal `${`."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [_escape_variables(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_variables(v) for k, v in value.items()}
    return value


def _comment(text: str) -> str:
    """A YAML comment line that stays one line whatever the export holds."""
    return "# " + one_line(text)


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _rows(text: str) -> tuple[int, list[list[str]]]:
    """Rows from the header on (Google Ads reports put a title and a date range above it)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        lowered = line.rstrip("\r\n").casefold()
        if "final url" in lowered or re.search(r"(^|[\t,\"])(link|website url)([\t,\"]|$)", lowered):
            body = "".join(lines[index:])
            dialect = "excel-tab" if line.count("\t") > line.count(",") else "excel"
            return index, [row for row in csv.reader(io.StringIO(body), dialect=dialect) if any(cell.strip() for cell in row)]
    return 0, []


def _google_ad(record: dict[str, str], row: int) -> ImportedAd | None:
    final = record.get("final url", "")
    headlines = _clean_all(record.get(h, "") for h in _GOOGLE_HEADLINES)
    if not final or not headlines or _removed(record, "status", "ad status"):
        return None
    suffix = _fill_macros(record.get("final url suffix", ""))
    landing = _with_query(final, suffix)
    clicked = _with_query(landing, urlencode({CLICK_IDS["google"]: CLICK_ID_VALUE}))
    url = _through_template(record.get("tracking template", ""), clicked)
    keep = [k for k, _ in parse_qsl(suffix)] + [k for k, _ in parse_qsl(urlsplit(final).query)] + [CLICK_IDS["google"]]
    path = "/".join(p for p in (record.get("path 1", ""), record.get("path 2", "")) if p)
    return ImportedAd("google", row, record.get("campaign", ""), record.get("ad group", ""), url, _no_query(final), headlines,
                      list(dict.fromkeys(keep)), _clean_all(record.get(d, "") for d in _GOOGLE_DESCRIPTIONS), path)


def _meta_ad(record: dict[str, str], row: int) -> ImportedAd | None:
    def get(kind: str) -> str:
        return next((record[c] for c in _META_COLUMNS[kind] if record.get(c)), "")

    link, headline = get("link"), _clean(get("headline"))
    if not link or not headline or get("status").casefold() in _REMOVED:
        return None
    params = _fill_macros(get("params"))
    landing = _with_query(link, params)
    url = _with_query(landing, urlencode({CLICK_IDS["meta"]: CLICK_ID_VALUE}))
    keep = [k for k, _ in parse_qsl(params)] + [k for k, _ in parse_qsl(urlsplit(link).query)] + [CLICK_IDS["meta"]]
    return ImportedAd("meta", row, get("campaign"), get("group") or get("ad"), url, _no_query(link), [headline],
                      list(dict.fromkeys(keep)), _clean_all([get("text")]))


def render_check(ad: ImportedAd, name: str, source: str) -> str:
    """The check file for one ad: a header saying where it came from, then plain YAML."""
    network = {"google": "Google Ads Editor", "meta": "Meta Ads Manager"}[ad.network]
    offers = [c.text for text in ad.texts for c in numbers(text) if c.kind in ("price", "percent")]
    section = {
        "url": ad.url,
        "headline": ad.headlines[0],
        "promise": list(dict.fromkeys(ad.headlines[1:] + offers)),
        "landing_url": ad.landing_url,
        "keep_params": ad.keep_params,
        "min_match": DEFAULT_MIN_MATCH[ad.network],
    }
    if not section["promise"]:
        del section["promise"]
    doc = _escape_variables({"name": name, "tags": [f"{ad.network}-ads", "imported"], "ad": section})
    header = [_comment(f"Imported from {source} (row {ad.row}, {network} export) by `funnelwatch import-ads`.")]
    if ad.campaign or ad.group:
        header.append(_comment(f"Campaign: {ad.campaign or '-'} / {'Ad group' if ad.network == 'google' else 'Ad set'}: {ad.group or '-'}"))
    if ad.display_path:
        header.append(_comment(f"Display path: /{ad.display_path}"))
    header.append("# Promises are the ad's other headlines (and prices/percentages from its text); min_match is the share")
    header.append("# that must appear on the landing page. Numbers must always match. Edit freely: re-import keeps this file.")
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=4096, default_flow_style=None)
    return "\n".join(header) + "\n" + body


def _clean(text: str) -> str:
    """Ad text as shown: dynamic keyword insertion `{KeyWord:Default}` becomes its default."""
    text = re.sub(r"\{(?:keyword|KeyWord|Keyword|KEYWORD|KEYWord|KeyWORD):([^}]*)\}", r"\1", text or "")
    return re.sub(r"\s+", " ", text).strip()


def _clean_all(values: object) -> list[str]:
    return list(dict.fromkeys(c for c in (_clean(v) for v in values) if c and c != "--"))  # type: ignore[attr-defined]


def _fill_macros(query: str) -> str:
    """ValueTrack `{campaignid}` and Meta `{{ad.name}}` macros get a recognisable test value."""
    query = re.sub(r"\{\{[^}]*\}\}", "fw-test", query.strip().lstrip("?"))
    return re.sub(r"\{[^}]*\}", "fw-test", query)


def _with_query(url: str, extra: str) -> str:
    if not extra:
        return url
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + extra
    return urlunsplit(parts._replace(query=query))


def _through_template(template: str, landing: str) -> str:
    """The click URL through a tracking template (`{lpurl}` escaped after `?`, raw at the start)."""
    template = template.strip()
    if not template or "lpurl}" not in template:
        return landing
    template = template.replace("{unescapedlpurl}", landing).replace("{escapedlpurl}", quote(landing, safe=""))
    head, sep, tail = template.partition("?")
    head = head.replace("{lpurl}", landing)
    tail = tail.replace("{lpurl}", quote(landing, safe=""))
    return _fill_macros_in_url(head + sep + tail)


def _fill_macros_in_url(url: str) -> str:
    return re.sub(r"\{[a-z_+0-9]*\}", "fw-test", url)


def _no_query(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query="", fragment=""))


def _removed(record: dict[str, str], *columns: str) -> bool:
    return any(record.get(c, "").casefold() in _REMOVED for c in columns)


def _name_of(ad: ImportedAd) -> str:
    where = " / ".join(p for p in (ad.campaign, ad.group) if p)
    return f"{ad.headlines[0]} — {where}" if where else ad.headlines[0]


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate.casefold() in used:
        candidate, n = f"{name} ({n})", n + 1
    used.add(candidate.casefold())
    return candidate


def _slug(name: str) -> str:
    """The check file's stem; a name with no ASCII letter or digit (Cyrillic, CJK…) becomes `ad-<hash>`,
    so two such ads never share one `ad.yaml`."""
    base = slugify(name, keep="", lower=True, max_length=80, fallback="")
    return base or (f"ad-{short_hash(name)}" if not name.isascii() else "ad")
