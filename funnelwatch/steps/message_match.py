"""Does the page carry the ad's promise? Phrases, headline words and numbers, read like a person.

People don't notice case, punctuation, dashes, curly quotes, `&amp;`, extra
spaces or a plural `s`, so neither does this: `14 day` matches `14-day` and
`Checklists` matches `checklist`. Numbers are promises of their own: a price
(`$49/month`, `€49`, `49 USD`), a percentage (`30% off`), a duration
(`14-day`) or a count (`40 pages`) in the ad must appear on the page as the
same number; when the page shows a different one of the same kind, the
mismatch names both. A number is read whole in the notation the page uses
(`49,99 €` and `1.299,00 €` as well as `€49.99` and `$1,299.00`), by
price-parser, so an English ad matches a German page.

    result = match_message(page_text, headline="Free HIPAA Checklist", promises=["40 pages"], min_match=0.8)
    result.passed, result.score, result.reason("https://example.com/lp")
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from price_parser import Price

STOPWORDS = frozenset(
    "a an and are as at be by for from get got has have here how in into is it its just now of off on only or our "
    "the their this that to today up us we with you your yours new more all any can will".split()
)

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"), "-")
_QUOTES = {ord("\u2018"): "'", ord("\u2019"): "'", ord("\u201a"): "'", ord("\u201c"): '"', ord("\u201d"): '"', 0xA0: " "}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|[$€£%]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

#: A whole number span: thousands grouped by `,` `.` or `'` (`1,299.00`, `1.299,00`), or a decimal comma or point.
_NUM = r"(?<!\d)(?<!\d[.,])(?P<num>\d{1,3}(?P<group>[.,'])\d{3}(?:(?P=group)\d{3})*(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP"}
_CURRENCY_WORDS = {"usd": "USD", "eur": "EUR", "gbp": "GBP", "cad": "CAD", "aud": "AUD", "chf": "CHF",
                   "dollars": "USD", "dollar": "USD", "euros": "EUR", "euro": "EUR", "pounds": "GBP"}
_PERIODS = {"mo": "month", "month": "month", "monthly": "month", "yr": "year", "year": "year", "annually": "year",
            "yearly": "year", "annum": "year", "wk": "week", "week": "week", "weekly": "week", "day": "day",
            "user": "user", "seat": "seat", "monat": "month", "jahr": "year", "woche": "week", "monatlich": "month",
            "jährlich": "year", "wöchentlich": "week"}
_PERIOD = (r"(?:\s*(?:/|per|a|an|each|pro|im|je)\s*(?P<per>mo|month|yr|year|annum|wk|week|day|user|seat|monat|jahr|woche)"
           r"s?\b|\s+(?P<per2>monthly|annually|yearly|weekly|monatlich|jährlich|wöchentlich))?")
_PRICE_BEFORE = re.compile(r"(?P<cur>[$€£]|\b(?:usd|eur|gbp|cad|aud|chf)\b)\s?" + _NUM + _PERIOD)
_PRICE_AFTER = re.compile(_NUM + r"\s?(?P<cur>usd|eur|gbp|cad|aud|chf|dollars?|euros?|pounds|[$€£])(?![a-z])" + _PERIOD)
_PERCENT = re.compile(_NUM + r"\s?(?:%|percent\b)")
_DURATION_UNITS = {"sec": "second", "second": "second", "min": "minute", "minute": "minute", "hr": "hour", "hour": "hour",
                   "day": "day", "week": "week", "wk": "week", "month": "month", "year": "year", "yr": "year"}
_DURATION = re.compile(_NUM + r"[\s-]?(?P<unit>seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|years?|yrs?)\b")
_COUNT = re.compile(_NUM + r"[\s-]?(?P<unit>[^\W\d_]{2,})")


def fold(text: str) -> str:
    """Entities, Unicode forms, dashes, curly quotes, case and whitespace folded."""
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES).casefold()
    return re.sub(r"[ \t\r\f\v]+", " ", text)


def singular(word: str) -> str:
    """A simple plural folded to its singular (`pages`→`page`, `boxes`→`box`, `policies`→`policy`)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _number(raw: str) -> str:
    """A number span as one canonical value: `1.299,00`, `1,299.00` and `1299` are all `1299`."""
    amount = Price.fromstring(raw).amount
    if not isinstance(amount, Decimal) or not amount.is_finite():
        return raw
    return format(amount.normalize(), "f")


def tokens(text: str) -> list[str]:
    """Words and numbers as compared: folded, apostrophes dropped, plurals singular."""
    folded = fold(text).replace("'", "")
    found = []
    for token in _TOKEN.findall(folded):
        found.append(_number(token) if token[0].isdigit() else singular(token))
    return found


def _contains_run(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return False
    size = len(needle)
    first = needle[0]
    return any(haystack[i] == first and haystack[i:i + size] == needle for i in range(len(haystack) - size + 1))


def sentences(text: str) -> list[str]:
    """The page's text cut into sentences and lines, the way it reads."""
    return [s.strip() for s in _SENTENCE_END.split(html.unescape(text)) if s and s.strip()]


# --- numbers ------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberClaim:
    """A number as a promise: `kind` price|percent|duration|count, with its unit."""

    kind: str
    value: str
    unit: str = ""
    period: str = ""
    text: str = ""

    def same_kind(self, other: "NumberClaim") -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "price":
            return self.unit == other.unit and (not self.period or not other.period or self.period == other.period)
        return self.unit == other.unit

    def matches(self, other: "NumberClaim") -> bool:
        return self.same_kind(other) and self.value == other.value


def numbers(text: str) -> list[NumberClaim]:
    """Every price, percentage, duration and count (`40 pages`) in `text`, in that priority.

    Bare numbers (`SOC 2`, `2026 edition`) are left to phrase matching: they are names as often as promises."""
    folded = fold(text)
    claims: list[tuple[int, NumberClaim]] = []
    taken = [False] * len(folded)

    def free(match: re.Match[str]) -> bool:
        return not any(taken[match.start():match.end()])

    def take(match: re.Match[str], claim: NumberClaim) -> None:
        for i in range(match.start(), match.end()):
            taken[i] = True
        claims.append((match.start(), claim))

    for pattern in (_PRICE_BEFORE, _PRICE_AFTER):
        for m in pattern.finditer(folded):
            if free(m):
                cur = m.group("cur")
                currency = _CURRENCY_SIGNS.get(cur) or _CURRENCY_WORDS.get(cur, cur.upper())
                per = m.group("per") or m.group("per2") or ""
                take(m, NumberClaim("price", _number(m.group("num")), currency, _PERIODS.get(per, per), m.group(0).strip()))
    for m in _PERCENT.finditer(folded):
        if free(m):
            take(m, NumberClaim("percent", _number(m.group("num")), "%", text=m.group(0).strip()))
    for m in _DURATION.finditer(folded):
        if free(m):
            unit = m.group("unit")
            unit = _DURATION_UNITS.get(unit, _DURATION_UNITS.get(singular(unit), singular(unit)))
            take(m, NumberClaim("duration", _number(m.group("num")), unit, text=m.group(0).strip()))
    for m in _COUNT.finditer(folded):
        unit = m.group("unit")
        if free(m) and unit not in STOPWORDS and singular(unit) != unit:
            take(m, NumberClaim("count", _number(m.group("num")), singular(unit), text=m.group(0).strip()))
    return [claim for _, claim in sorted(claims, key=lambda pair: pair[0])]


def _without_numbers(text: str) -> str:
    folded = fold(text)
    for pattern in (_PRICE_BEFORE, _PRICE_AFTER, _PERCENT, _DURATION):
        folded = pattern.sub(" ", folded)
    return folded


# --- the match -----------------------------------------------------------------------


@dataclass
class Promise:
    """One row of the match table: what the ad says, and where the page says it (if it does)."""

    promise: str
    kind: str
    found: bool = False
    found_in: str | None = None
    page_says: str | None = None


@dataclass
class MatchResult:
    items: list[Promise]
    min_match: float
    conflicts: list[Promise] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(p.found for p in self.items) / len(self.items) if self.items else 1.0

    @property
    def missing(self) -> list[Promise]:
        return [p for p in self.items if not p.found]

    @property
    def passed(self) -> bool:
        numbers_ok = all(p.found for p in self.items if p.kind not in ("promise", "headline"))
        return numbers_ok and self.score + 1e-9 >= self.min_match

    def reason(self, url: str) -> str:
        """One line naming the culprit: a changed number first, then what is missing."""
        if self.conflicts:
            first = self.conflicts[0]
            more = f" (and {len(self.conflicts) - 1} more mismatch{'es' if len(self.conflicts) > 2 else ''})" if len(self.conflicts) > 1 else ""
            return f"the ad says '{first.promise}' but the page at {url} says '{first.page_says}'{more}"
        lost_numbers = [p for p in self.missing if p.kind not in ("promise", "headline")]
        if lost_numbers and self.score + 1e-9 >= self.min_match:
            shown = ", ".join(f"'{p.promise}'" for p in lost_numbers[:3])
            return f"the ad's {shown} does not appear on the page at {url}"
        found = len(self.items) - len(self.missing)
        shown = ", ".join(f"'{p.promise}'" for p in self.missing[:5]) + (", …" if len(self.missing) > 5 else "")
        return (f"the page at {url} carries {found} of {len(self.items)} ad promises ({self.score:.0%}, "
                f"min_match {self.min_match:.0%}); missing: {shown}")

    def as_evidence(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "min_match": self.min_match,
            "items": [asdict(p) for p in self.items],
            "conflicts": [asdict(p) for p in self.conflicts],
        }


def match_message(page_text: str, headline: str | None, promises: list[str], min_match: float) -> MatchResult:
    """Score the page's text against the ad's headline, promise phrases and numbers."""
    page_sentences = sentences(page_text)
    sentence_tokens = [tokens(s) for s in page_sentences]
    page_claims = [(claim, i) for i, s in enumerate(page_sentences) for claim in numbers(s)]
    all_tokens = tokens(page_text)
    items: list[Promise] = []

    for phrase in dict.fromkeys(p for p in promises if p.strip()):
        if _is_just_a_number(phrase):
            continue
        items.append(_find_phrase(phrase, "promise", page_sentences, sentence_tokens, all_tokens))
    promise_words = {t for p in promises for t in tokens(p)}
    for word in dict.fromkeys(tokens(_without_numbers(headline or ""))):
        if word in STOPWORDS or word in promise_words or not word[0].isalnum():
            continue
        items.append(_find_phrase(word, "headline", page_sentences, sentence_tokens, all_tokens))

    result = MatchResult(items, min_match)
    ad_claims = list(dict.fromkeys(c for text in [headline or "", *promises] for c in numbers(text)))
    for claim in ad_claims:
        row = Promise(claim.text, claim.kind)
        hit = next(((c, i) for c, i in page_claims if claim.matches(c)), None)
        if hit is not None:
            row.found, row.found_in = True, page_sentences[hit[1]]
        else:
            rival = next(((c, i) for c, i in page_claims if claim.same_kind(c)), None)
            if rival is not None:
                row.page_says, row.found_in = rival[0].text, page_sentences[rival[1]]
                result.conflicts.append(row)
        items.append(row)
    return result


def _is_just_a_number(phrase: str) -> bool:
    """`40 pages` or `$49/month` as a promise is checked as a number, not twice."""
    claims = numbers(phrase)
    return len(claims) == 1 and tokens(phrase) == tokens(claims[0].text)


def _find_phrase(phrase: str, kind: str, page_sentences: list[str], sentence_tokens: list[list[str]],
                 all_tokens: list[str]) -> Promise:
    wanted = tokens(phrase)
    row = Promise(phrase, kind)
    for text, words in zip(page_sentences, sentence_tokens):
        if _contains_run(words, wanted):
            row.found, row.found_in = True, text[:300]
            return row
    if _contains_run(all_tokens, wanted):
        row.found = True
    return row


def phrase_in(text: str, phrase: str) -> bool:
    """True when `phrase` reads the same somewhere in `text` (folded, token by token)."""
    return _contains_run(tokens(text), tokens(phrase))
