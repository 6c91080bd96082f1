"""Finding the lead form (page and every iframe) and filling it like a person.

Marketing forms move around: embeds from HubSpot/Marketo/Pardot live in
cross-origin iframes, React apps render them after load, and a newsletter
box in the footer also asks for an email. So the form is the one that can
take the most configured `fill` keys, searched in every frame until the page
settles; the chosen form and its fields are marked with `data-funnelwatch-*`
attributes so Playwright locators find them again across re-renders.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import StepFailed
from ..results import Category

if TYPE_CHECKING:
    from playwright.async_api import Frame, Locator

    from .base import StepContext

POLL_S = 0.15
SETTLE_S = 1.0
FRAME_EVAL_S = 2.0
FILL_TIMEOUT_S = 5.0
TRUE_WORDS = {"true", "check", "checked", "yes", "on", "1", "x"}
FALSE_WORDS = {"false", "uncheck", "unchecked", "no", "off", "0", ""}

# Shared by discovery and filling, so both agree on what "matches a key" means.
JS_LIB = r"""
const norm = s => (s || '').toLowerCase().replace(/[*:]/g, ' ').replace(/\(required\)/g, ' ').replace(/\s+/g, ' ').trim();
const CONTROLS = 'input:not([type=submit]):not([type=button]):not([type=reset]):not([type=image]), select, textarea';
const visible = el => !!(el.getClientRects().length && (!el.checkVisibility || el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})));
const labelOf = el => {
  const parts = [];
  for (const label of (el.labels || [])) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll('select, textarea, option, button, input').forEach(n => n.remove());
    parts.push(copy.textContent);
  }
  if (el.getAttribute('aria-label')) parts.push(el.getAttribute('aria-label'));
  for (const id of (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)) {
    const node = document.getElementById(id);
    if (node) parts.push(node.textContent);
  }
  if (!parts.length && el.placeholder) parts.push(el.placeholder);
  return norm(parts.join(' '));
};
const controls = form => {
  const inside = [...form.querySelectorAll(CONTROLS)];
  const outside = form.id ? [...document.querySelectorAll(CONTROLS)].filter(el => el.getAttribute('form') === form.id && !inside.includes(el)) : [];
  return inside.concat(outside);
};
const kindOf = el => el.tagName === 'SELECT' ? 'select' : el.tagName === 'TEXTAREA' ? 'text'
  : ['checkbox', 'radio', 'hidden', 'file'].includes(el.type) ? el.type : 'text';
const matchKey = (form, key) => {
  const all = controls(form);
  const low = key.toLowerCase(), wanted = norm(key);
  const tries = [
    ['name', el => el.name === key], ['id', el => el.id === key],
    ['name', el => (el.name || '').toLowerCase() === low], ['id', el => (el.id || '').toLowerCase() === low],
    ['label', el => el.type !== 'hidden' && wanted && labelOf(el) === wanted],
    ['label', el => el.type !== 'hidden' && wanted.length > 2 && (' ' + labelOf(el) + ' ').includes(' ' + wanted + ' ')],
  ];
  for (const [by, test] of tries) {
    const hits = all.filter(test);
    if (hits.length) return {by, hits};
  }
  let hits = [];
  try { hits = [...form.querySelectorAll(key)].filter(el => el.matches(CONTROLS)); } catch (e) { return null; }
  if (!hits.length) { try { hits = [...document.querySelectorAll(key)].filter(el => el.matches(CONTROLS)); } catch (e) {} }
  return hits.length ? {by: 'selector', hits} : null;
};
const isEmailField = el => el.tagName === 'INPUT' && el.type !== 'hidden' && (el.type === 'email'
  || /e-?mail/i.test([el.name, el.id, el.autocomplete, el.placeholder].join(' ')) || /e-?mail/.test(labelOf(el)));
const describe = el => {
  const label = labelOf(el);
  const id = el.name || el.id || '';
  return id && label && norm(id) !== label ? `${id} (${label})` : (id || label || el.tagName.toLowerCase());
};
"""

CANDIDATES_JS = "({keys, selector}) => {" + JS_LIB + r"""
  let forms;
  try { forms = selector ? [...document.querySelectorAll(selector)] : [...document.forms]; } catch (e) { return {error: String(e.message || e)}; }
  return {ready: document.readyState, forms: forms.map((f, i) => ({
    index: i, visible: visible(f), email: controls(f).some(isEmailField),
    matched: keys.filter(k => matchKey(f, k)).length,
    id: f.id || '', name: f.getAttribute('name') || '', action: f.action || f.getAttribute('action') || '',
  }))};
}"""

MARK_JS = "(form, {items, mark}) => {" + JS_LIB + r"""
  form.setAttribute('data-funnelwatch-form', mark);
  const fields = controls(form);
  const out = items.map(({key, value}, i) => {
    const found = matchKey(form, key);
    if (!found) return {key, found: false};
    let el = found.hits[0];
    const kind = kindOf(el);
    let options = [];
    if (kind === 'radio') {
      const group = found.hits.filter(h => h.type === 'radio');
      const byName = group.length ? document.querySelectorAll(`input[type=radio][name="${CSS.escape(el.name)}"]`) : [];
      const pool = group.length > 1 ? group : (byName.length > 1 ? [...byName] : group);
      options = pool.map(r => r.value || labelOf(r));
      const v = norm(value);
      const pick = pool.find(r => norm(r.value) === v || labelOf(r) === v);
      if (pick) el = pick; else if (pool.length > 1 && !['true', 'check', 'checked', 'yes', 'on'].includes(v)) return {key, found: true, kind, options, nooption: true, field: describe(el)};
    }
    let choice = null;
    if (kind === 'select') {
      options = [...el.options].map(o => o.value === o.text.trim() ? o.value : `${o.value} (${o.text.trim()})`);
      const pick = [...el.options].find(o => o.value === value) || [...el.options].find(o => o.text.trim() === value)
        || [...el.options].find(o => norm(o.text) === norm(value) || norm(o.value) === norm(value));
      if (!pick) return {key, found: true, kind, options, nooption: true, field: describe(el)};
      choice = pick.value;
    }
    el.setAttribute('data-funnelwatch-field', String(i));
    return {key, found: true, by: found.by, kind, field: describe(el), options, choice, visible: visible(el)};
  });
  const submitters = [...form.querySelectorAll('button[type=submit], input[type=submit], input[type=image], button:not([type])')]
    .concat(form.id ? [...document.querySelectorAll(`[form="${CSS.escape(form.id)}"]`)].filter(b => b.matches('button, input[type=submit]')) : []);
  const button = submitters.find(visible) || submitters[0];
  if (button) button.setAttribute('data-funnelwatch-submit', mark);
  return {
    items: out,
    fields: fields.filter(el => el.type !== 'hidden').map(describe),
    hidden: fields.filter(el => el.type === 'hidden').map(el => el.name || el.id).filter(Boolean),
    button: button ? (button.innerText || button.value || button.getAttribute('aria-label') || '').trim().slice(0, 80) : null,
    id: form.id || '', action: form.action || form.getAttribute('action') || '', method: (form.method || 'get').toLowerCase(),
  };
}"""

SET_HIDDEN_JS = """(el, value) => {
  el.value = value;
  el.dispatchEvent(new Event('input', {bubbles: true}));
  el.dispatchEvent(new Event('change', {bubbles: true}));
}"""


@dataclass
class FoundForm:
    """The form the check will submit: where it is and how to reach it again."""

    frame: "Frame"
    locator: "Locator"
    selector: str
    frame_url: str
    in_iframe: bool
    facts: dict[str, Any] = field(default_factory=dict)
    #: How `find_form` picked it in its frame (`form.selector` or None for `document.forms`, and the index):
    #: lets `fill_form` mark it in one evaluate instead of a locator's three round trips.
    picked: "tuple[str | None, int] | None" = None


async def find_form(ctx: "StepContext", selector: str | None, keys: list[str], mark: str) -> FoundForm:
    """The configured form, else the email form that takes most `fill` keys, from any frame.

    Takes a form at once when it can take every key; otherwise waits for the
    page to settle (load event, then no new forms for a moment) before taking
    the best one, so a form an embed script renders late beats a footer
    newsletter box. Gives up with `form_missing`, or `http_status` when the
    iframe that should hold the form answered an HTTP error.
    """
    page = ctx.page
    deadline = time.monotonic() + ctx.timeout_s
    last_signature: Any = None
    stable_since = time.monotonic()
    selector_error: str | None = None
    while True:
        found: list[tuple[tuple[Any, ...], "Frame", int, dict[str, Any]]] = []
        ready = True
        for order, frame in enumerate(page.frames):
            result = await _evaluate(frame, CANDIDATES_JS, {"keys": keys, "selector": selector})
            if not result:
                ready = ready and frame is not page.main_frame
                continue
            if result.get("error"):
                selector_error = result["error"]
                continue
            ready = ready and (frame is not page.main_frame or result["ready"] == "complete")
            for info in result["forms"]:
                if selector or info["email"]:
                    score = (info["matched"], info["visible"], -order, -info["index"])
                    found.append((score, frame, info["index"], info))
        signature = sorted((f[0][0], f[1].url, f[2]) for f in found)
        if signature != last_signature:
            last_signature, stable_since = signature, time.monotonic()
        settled = ready and time.monotonic() - stable_since >= SETTLE_S
        best = max(found, key=lambda f: f[0]) if found else None
        if best and (best[0][0] == len(keys) or settled):
            break
        if not found and settled and _failed_frame(ctx):
            break
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    if best is None:
        if selector_error:
            raise StepFailed(Category.FORM_MISSING, f"form.selector '{selector}' is not a valid CSS selector: {selector_error}")
        failed = _failed_frame(ctx)
        if failed:
            raise StepFailed(
                Category.HTTP_STATUS,
                f"the form's iframe {failed['url']} answered HTTP {failed['status']}, so no form could be found on {page.url}",
            )
        wanted = f"no element matches form.selector '{selector}'" if selector else "no form with an email field"
        raise StepFailed(Category.FORM_MISSING, f"{wanted} on {page.url} (page and {len(page.frames) - 1} iframe(s) searched)")
    _, frame, index, info = best
    base = selector or "form"
    return FoundForm(
        frame=frame,
        locator=frame.locator(base).nth(index),
        selector=_describe_selector(selector, info, index),
        frame_url=frame.url,
        in_iframe=frame is not page.main_frame,
        picked=(selector, index),
    )


def _describe_selector(selector: str | None, info: dict[str, Any], index: int) -> str:
    if selector:
        return selector
    if info["id"]:
        return f"form#{info['id']}"
    if info["name"]:
        return f"form[name='{info['name']}']"
    return f"form:nth-of-type({index + 1})" if index else "form"


def _failed_frame(ctx: "StepContext") -> dict[str, Any] | None:
    """The first iframe document that answered 4xx/5xx (collected by the runner)."""
    main = ctx.page.url
    for entry in ctx.failed_requests:
        if entry.get("resource") == "document" and (entry.get("status") or 0) >= 400 and entry.get("url") != main:
            return entry
    return None


async def _evaluate(frame: "Frame", script: str, arg: Any) -> Any:
    try:
        return await asyncio.wait_for(frame.evaluate(script, arg), FRAME_EVAL_S)
    except Exception:
        return None


async def fill_form(ctx: "StepContext", form: FoundForm, fill: dict[str, Any], mark: str) -> list[dict[str, Any]]:
    """Fill every configured key; a key that matches no field names the fields the form has."""
    items = [{"key": key, "value": str(ctx.fill_placeholders(value))} for key, value in fill.items()]
    try:
        plan = await _mark(form, {"items": items, "mark": mark})
    except Exception as exc:
        raise StepFailed(Category.FORM_MISSING, f"the form {form.selector} disappeared before it could be filled ({_first_line(exc)})") from None
    form.facts = {k: plan[k] for k in ("id", "action", "method", "button", "fields", "hidden")}
    filled: list[dict[str, Any]] = []
    for index, (item, how) in enumerate(zip(items, plan["items"])):
        key, value = item["key"], ctx.fill_placeholders(fill[item["key"]])
        if not how["found"]:
            listed = ", ".join(plan["fields"]) or "none"
            raise StepFailed(
                Category.FORM_FIELD_MISSING,
                f"the form {form.selector} has no field '{key}' (by name, id, label or CSS selector); its fields are: {listed}",
            )
        if how.get("nooption"):
            raise StepFailed(
                Category.FORM_FIELD_MISSING,
                f"'{key}' has no option '{value}' in the form {form.selector}; its options are: {', '.join(how['options'])}",
            )
        field_locator = form.frame.locator(f"[data-funnelwatch-field='{index}']").first
        await _fill_one(field_locator, how, key, value, form.selector)
        if ctx.redactor.redact(str(value)) != str(value):
            ctx.secret_fields.append(field_locator)
        shown = "(hidden)" if how["kind"] == "hidden" else ctx.redactor.redact(str(value))[:200]
        filled.append({"key": key, "field": how["field"], "matched_by": how["by"], "kind": how["kind"], "value": shown})
    return filled


_MARK_PICKED_JS = "([selector, index, arg]) => {" + r"""
  let forms;
  try { forms = selector ? document.querySelectorAll(selector) : document.forms; } catch (e) { return null; }
  const form = forms[index];
  return form ? (""" + MARK_JS + r""")(form, arg) : null;
}"""


async def _mark(form: FoundForm, arg: dict[str, Any]) -> Any:
    """Mark the form's fields (`MARK_JS`): where `find_form` saw it if it is still there, else wait for it."""
    if form.picked is not None:
        selector, index = form.picked
        try:
            plan = await asyncio.wait_for(form.frame.evaluate(_MARK_PICKED_JS, [selector, index, arg]), FILL_TIMEOUT_S)
        except Exception:
            plan = None
        if plan:
            return plan
    return await form.locator.evaluate(MARK_JS, arg, timeout=FILL_TIMEOUT_S * 1000)


async def _fill_one(locator: "Locator", how: dict[str, Any], key: str, value: Any, where: str) -> None:
    kind = how["kind"]
    timeout = FILL_TIMEOUT_S * 1000
    try:
        if kind == "hidden":
            await locator.evaluate(SET_HIDDEN_JS, str(value))
        elif kind == "select":
            await locator.select_option(value=how["choice"], timeout=timeout)
        elif kind in ("checkbox", "radio"):
            await _tick(locator, _truthy(value) if kind == "checkbox" else True, timeout)
        elif kind == "file":
            await locator.set_input_files(str(value), timeout=timeout)
        else:
            await locator.fill(str(value), timeout=timeout)
    except Exception as exc:
        state = "hidden" if not how.get("visible", True) else "not editable"
        raise StepFailed(
            Category.FORM_FIELD_MISSING,
            f"the field '{how['field']}' for '{key}' in the form {where} could not be filled: it is {state} ({_first_line(exc)})",
        ) from None


async def _tick(locator: "Locator", on: bool, timeout: float) -> None:
    """Tick like a person; styled checkboxes hide the real input, so fall back to setting it."""
    try:
        await (locator.check(timeout=timeout / 2) if on else locator.uncheck(timeout=timeout / 2))
    except Exception:
        await locator.evaluate(
            "(el, on) => { if (el.checked !== on) el.click(); if (el.checked !== on) { el.checked = on;"
            " el.dispatchEvent(new Event('change', {bubbles: true})); } }",
            on,
        )


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
