"""One look at every frame of the page: URLs, text, messages, HTML5 validity, CAPTCHAs.

Validation messages are read the way a person sees them (visible, near the
form, not there before the click); the browser's own HTML5 bubble never
reaches page text, so it is read through the constraint-validation API.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Page

    from .form_find import FoundForm

FRAME_EVAL_S = 1.0
MAX_TEXT = 20_000

OBSERVE_JS = r"""({mark}) => {
  const visible = el => !!(el.getClientRects().length && (!el.checkVisibility || el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})));
  const clean = s => (s || '').replace(/\s+/g, ' ').trim();
  const MESSAGES = '[role=alert], [aria-live=assertive], .error, .errors, .error-message, .errorMessage, .field-error, .form-error,'
    + ' .invalid-feedback, .hs-error-msg, .hs-error-msgs, .hs_error_rollup, .mktoErrorMsg, .wpcf7-not-valid-tip,'
    + ' .gfield_validation_message, .validation_message, .validation-error, .text-danger, .has-error .help-block,'
    + ' [class*=error i], [id*=error i], [data-error]';
  const hits = [...document.querySelectorAll(MESSAGES)].filter(el =>
    !el.querySelector('input, select, textarea, form') && visible(el) && !/success|thank|confirm/i.test(el.className + ' ' + el.id));
  const messages = hits.filter(el => !hits.some(other => other !== el && el.contains(other)))
    .map(el => clean(el.innerText)).filter(t => t && t.length <= 300);
  for (const el of document.querySelectorAll('[aria-invalid=true]')) {
    for (const id of (el.getAttribute('aria-errormessage') || el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean)) {
      const node = document.getElementById(id);
      if (node && visible(node) && clean(node.innerText)) messages.push(clean(node.innerText));
    }
  }
  const form = mark ? document.querySelector(`[data-funnelwatch-form="${mark}"]`) : null;
  let invalid = [];
  if (form && !form.noValidate) {
    const submit = form.querySelector('[data-funnelwatch-submit]');
    if (!(submit && submit.formNoValidate)) {
      invalid = [...form.querySelectorAll('input, select, textarea')].filter(el => el.willValidate && !el.checkValidity())
        .map(el => ({field: el.name || el.id || el.type, message: el.validationMessage}));
    }
  }
  const captcha = [];
  for (const frame of document.querySelectorAll('iframe')) {
    const src = frame.src || '', title = frame.title || '';
    const r = frame.getBoundingClientRect();
    const shown = r.width >= 30 && r.height >= 30 && r.bottom > 0 && r.right > 0 && visible(frame);
    if (!shown) continue;
    let kind = null, blocking = true;
    if (/recaptcha\/(api2|enterprise)\/bframe/.test(src) || /recaptcha challenge/i.test(title)) kind = 'reCAPTCHA image challenge';
    else if (/hcaptcha/i.test(src + title) && /challenge/i.test(src + ' ' + title)) kind = 'hCaptcha challenge';
    else if (/challenges\.cloudflare\.com|turnstile|cdn-cgi\/challenge-platform/i.test(src + title)) kind = 'Cloudflare Turnstile challenge';
    else if (/recaptcha\/(api2|enterprise)\/anchor/.test(src) && !/size=invisible/.test(src)) { kind = 'reCAPTCHA checkbox'; blocking = false; }
    else if (/hcaptcha/i.test(src + title) && !/size=invisible/.test(src)) { kind = 'hCaptcha checkbox'; blocking = false; }
    if (kind) captcha.push({kind, blocking, src: src.slice(0, 300)});
  }
  const heading = document.querySelector('h1, h2, [role=heading]');
  return {
    url: location.href, ready: document.readyState, messages, invalid, captcha, form: !!(form && form.isConnected),
    title: document.title || '', heading: heading && visible(heading) ? clean(heading.innerText).slice(0, 200) : '',
    text: document.body ? document.body.innerText.slice(0, """ + str(MAX_TEXT) + r""") : '',
  };
}"""


@dataclass
class Seen:
    """One look at every frame of the page."""

    urls: list[str]
    main_url: str
    main_ready: bool
    texts: list[str]
    messages: list[str]
    invalid: list[dict[str, str]]
    captcha: list[dict[str, Any]]
    headline: str
    main_text: str = ""

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts)

    def says(self) -> str:
        """What the page says, in one short line: its messages, else its heading and first words."""
        if self.messages:
            return "; ".join(dict.fromkeys(self.messages))[:300]
        text = re.sub(r"\s+", " ", self.main_text or (self.texts[0] if self.texts else "")).strip()
        if self.headline and self.headline not in text:
            text = f"{self.headline} — {text}"
        return text[:300] or "(nothing)"


async def look(page: "Page", form: "FoundForm", mark: str, before: set[str]) -> Seen:
    """Observe every frame at once; messages already shown before the click are ignored."""
    frames = page.frames
    results = await asyncio.gather(*(_observe(frame, mark) for frame in frames))
    main = results[0] if results and results[0] else {}
    urls = [page.url]
    try:
        if form.in_iframe and not form.frame.is_detached():
            urls.append(form.frame.url)
    except Exception:
        pass
    texts, messages, invalid, captcha = [], [], [], []
    for frame, seen in zip(frames, results):
        if not seen:
            continue
        prefix = seen["title"] + "\n" if frame is page.main_frame else ""
        texts.append(prefix + seen["text"])
        messages += [m for m in seen["messages"] if m not in before]
        invalid += seen["invalid"]
        captcha += seen["captcha"]
    return Seen(urls, page.url, main.get("ready") == "complete", texts, list(dict.fromkeys(messages)), invalid, captcha,
                main.get("heading", ""), main.get("text", ""))


async def _observe(frame: Any, mark: str) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(frame.evaluate(OBSERVE_JS, {"mark": mark}), FRAME_EVAL_S)
    except Exception:
        return None
