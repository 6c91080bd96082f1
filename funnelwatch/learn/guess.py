"""What to type into each field of a lead form, and why — decided from what a person would read.

Each field is judged by its label, name, id, autocomplete token and type (in
English and the languages marketing forms most often come in). The values are
the ones a sales team recognises as a test at a glance; hidden fields and
honeypots are never filled, optional marketing opt-ins are left alone, and a
field nobody recognises is filled only when the form requires it.

    fill = guess_fill(fields)   # [Guess(key="email", value="{inbox}", why="type=email"), ...]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .yamltext import clean

COMPANY = "funnelwatch test - please ignore"
FIRST_NAME = "Funnel"
LAST_NAME = "Test"
#: A number in the range reserved for fiction (555-01xx), in E.164 form so pattern checks accept it.
PHONE = "+12025550143"
TEXT = "funnelwatch test - please ignore"

_WORDS: list[tuple[str, str, str, re.Pattern[str]]] = [
    # (role, value, autocomplete tokens, words in name/id/label)
    ("first_name", FIRST_NAME, "given-name", re.compile(r"first.?name|given.?name|\bfname\b|\bfirst\b|vorname|pr[ée]nom|nombre\b", re.I)),
    ("last_name", LAST_NAME, "family-name", re.compile(r"last.?name|family.?name|sur.?name|\blname\b|\blast\b|nachname|\bnom\b|apellido", re.I)),
    ("company", COMPANY, "organization", re.compile(r"company|organi[sz]ation|\borg\b|business.?name|employer|firma|unternehmen|"
                                                      r"soci[ée]t[ée]|empresa|account.?name", re.I)),
    ("phone", PHONE, "tel", re.compile(r"phone|\btel\b|telephone|mobile|cell|telefon|handy|t[ée]l[ée]phone|tel[ée]fono", re.I)),
    ("job_title", "QA", "organization-title", re.compile(r"job.?title|\btitle\b|position|\brole\b|jobtitel|funktion|berufsbezeichnung", re.I)),
    ("full_name", f"{FIRST_NAME} {LAST_NAME}", "name", re.compile(r"^(full.?name|your.?name|name|ihr.?name|vollst[äa]ndiger.?name|nom.?complet)$", re.I)),
    ("website", "https://example.com", "url", re.compile(r"website|\burl\b|homepage|webseite", re.I)),
]
_TERMS = re.compile(r"terms|privacy|datenschutz|agb|nutzungsbedingungen|conditions|einverstanden|akzeptiere|zustimm|consent|"
                    r"i agree|agree to|accept|einwillig|policy|gdpr|dsgvo|processing|verarbeitung", re.I)
_MARKETING = re.compile(r"newsletter|marketing|offers|promotion|updates|news\b|subscribe|angebote|werbung|neuigkeiten|"
                        r"produktinformationen|informiert|occasional|event invitations|product news", re.I)
_PLACEHOLDER_OPTION = re.compile(r"^(|-+|—+|\.\.\.|…|select.*|choose.*|please select.*|pick.*|bitte.*w[äa]hlen.*|ausw[äa]hlen.*|"
                                 r"w[äa]hlen sie.*|s[ée]lectionne.*|choisi.*|seleccion.*|none|n/a)$", re.I)


@dataclass
class Guess:
    """One `fill:` entry: the key the form step finds the field by, the value, and what it was guessed from."""

    key: str
    value: str | bool
    why: str


@dataclass
class FillPlan:
    fill: list[Guess] = field(default_factory=list)
    #: Fields left as the page had them, with why ("optional opt-in", "hidden", "honeypot").
    left: list[str] = field(default_factory=list)


def describe(f: dict[str, Any]) -> str:
    """How a field is named in comments: its label, else its name."""
    label, name = clean(f.get("label", ""), 60), clean(f.get("name") or f.get("id") or "", 60)
    if label and name and label.lower() != name.lower():
        return f"{name} ({label})"
    return label or name or f.get("type", "field")


def _key_of(f: dict[str, Any], fields: list[dict[str, Any]]) -> str:
    """The key the form step matches first (name, then id), unique in the form; else a CSS selector."""
    name, fid = f.get("name") or "", f.get("id") or ""
    same_name = [g for g in fields if (g.get("name") or "") == name]
    if name and (len(same_name) == 1 or f.get("type") == "radio"):
        return name
    if fid and re.fullmatch(r"[A-Za-z][\w-]*", fid):
        return f"#{fid}"
    if name and f.get("value") and re.fullmatch(r"[\w .-]*", f["value"]) and re.fullmatch(r"[\w\[\].-]+", name):
        return f'input[name="{name}"][value="{f["value"]}"]'
    return clean(f.get("label", ""), 80) or name


def _words(f: dict[str, Any]) -> str:
    return " ".join(str(f.get(k) or "") for k in ("name", "id", "label", "placeholder"))


def _role(f: dict[str, Any]) -> tuple[str, str, str] | None:
    """(role, value, why) for a text-like field funnelwatch recognises."""
    auto = (f.get("autocomplete") or "").lower().split()
    for role, value, token, _ in _WORDS:
        if token in auto:
            return role, value, f"autocomplete={token}"
    if (f.get("type") or "") == "tel":
        return "phone", PHONE, "type=tel"
    for role, value, _, words in _WORDS:
        if role == "full_name":
            if any(words.match(clean(part, 60)) for part in (f.get("name") or "", f.get("label") or "") if part):
                return role, value, f"named '{clean(f.get('label') or f.get('name') or '', 60)}'"
            continue
        if words.search(f.get("label") or ""):
            return role, value, f"label '{clean(f.get('label') or '', 60)}'"
        if words.search(" ".join(str(f.get(k) or "") for k in ("name", "id", "placeholder"))):
            return role, value, f"name '{clean(f.get('name') or f.get('id') or '', 60)}'"
    return None


def first_real_option(options: list[dict[str, Any]]) -> dict[str, Any] | None:
    for option in options:
        if option.get("disabled"):
            continue
        text = clean(option.get("text", ""), 80)
        if not (option.get("value") or "").strip() or _PLACEHOLDER_OPTION.match(text):
            continue
        return option
    return None


def guess_fill(fields: list[dict[str, Any]]) -> FillPlan:
    """The fill plan for a form's fields (as `look.DISCOVER_JS` describes them)."""
    plan = FillPlan()
    done_radio: set[str] = set()
    for f in fields:
        name = describe(f)
        kind, required = f.get("kind"), bool(f.get("required"))
        if kind == "hidden":
            continue  # listed apart: the site fills them itself (tracking, form ids)
        if f.get("honeypot"):
            plan.left.append(f"{name}: honeypot ({f['honeypot']}), never filled")
            continue
        if f.get("email") and kind == "text" and f.get("type") not in ("checkbox", "radio"):
            plan.fill.append(Guess(_key_of(f, fields), "{inbox}", f"email field ({_why_email(f)}): this run's unique address"))
            continue
        if kind == "select":
            if not required:
                plan.left.append(f"{name}: optional select")
                continue
            option = first_real_option(f.get("options") or [])
            if option is None:
                plan.left.append(f"{name}: required select without a real option")
                continue
            text = clean(option.get("text", ""), 80) or option["value"]
            plan.fill.append(Guess(_key_of(f, fields), text, "required select: its first real option"))
            continue
        if kind == "checkbox":
            label = f.get("label") or ""
            if required:
                plan.fill.append(Guess(_key_of(f, fields), True, f"required box '{clean(label, 60)}' ticked"))
            elif _TERMS.search(label) and not _MARKETING.search(label):
                plan.fill.append(Guess(_key_of(f, fields), True, f"consent to terms '{clean(label, 60)}' ticked"))
            else:
                plan.left.append(f"{name}: optional opt-in, left unticked")
            continue
        if kind == "radio":
            group = f.get("name") or f.get("id") or ""
            if group in done_radio:
                continue
            done_radio.add(group)
            if required:
                plan.fill.append(Guess(_key_of(f, fields), clean(f.get("value") or f.get("label") or "", 80) or "true",
                                       "required choice: its first option"))
            else:
                plan.left.append(f"{name}: optional choice")
            continue
        if kind == "file":
            plan.left.append(f"{name}: file upload, left empty")
            continue
        role = _role(f)
        if role is not None:
            plan.fill.append(Guess(_key_of(f, fields), role[1], role[2]))
        elif required:
            value = "10" if f.get("type") == "number" else ("https://example.com" if f.get("type") == "url" else TEXT)
            plan.fill.append(Guess(_key_of(f, fields), value, "required, not recognised: a test text"))
        else:
            plan.left.append(f"{name}: optional, not recognised")
    return _unique_keys(plan)


def _unique_keys(plan: FillPlan) -> FillPlan:
    """One `fill:` entry per key (a YAML mapping cannot hold a key twice): a second field with the same key is left."""
    seen: set[str] = set()
    kept = []
    for guess in plan.fill:
        if guess.key in seen:
            plan.left.append(f"{guess.key}: another field answers to the same name, left empty")
            continue
        seen.add(guess.key)
        kept.append(guess)
    plan.fill = kept
    for guess in [g for g in plan.fill if not g.key]:
        plan.fill.remove(guess)
        plan.left.append(f"a field with no name, id or label ({guess.why}): nothing to find it by, left empty")
    return plan


def _why_email(f: dict[str, Any]) -> str:
    if f.get("type") == "email":
        return "type=email"
    if "email" in (f.get("autocomplete") or ""):
        return "autocomplete=email"
    return f"named '{clean(f.get('label') or f.get('name') or '', 60)}'"
