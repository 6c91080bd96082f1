"""Looking at a landing page the way `funnelwatch new` needs: its consent banner, its forms, its headline.

One Chromium, one context, one page — opened exactly as the runner opens them
(the same viewport profiles, the same internal-address guard, the same event
listeners), so what `new` sees is what the nightly run will see. Every frame
is read, cross-origin iframes included (Playwright evaluates in each), until
the page settles: embed scripts draw their forms after load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..browser import BrowserHolder, context_profile, new_context, with_user_agent
from ..config import Check, Config
from ..page_events import open_page, settle_hits, watch
from ..schema import check_model
from ..steps.base import RunServices, StepContext
from ..steps.form_find import JS_LIB
from ..steps.landing import dismiss
from ..steps.pagekit import Navigation, navigate

if TYPE_CHECKING:
    from ..inbox.base import Inbox

POLL_S = 0.2
SETTLE_S = 1.2

#: Consent tools by their accept button, in the order tried; then a generic "Accept" in a fixed overlay.
CONSENT_BUTTONS: list[tuple[str, str]] = [
    ("OneTrust", "#onetrust-accept-btn-handler"),
    ("Cookiebot", "#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll"),
    ("Cookiebot", "#CybotCookiebotDialogBodyButtonAccept"),
    ("Usercentrics", "[data-testid=\"uc-accept-all-button\"]"),
    ("Usercentrics", "#uc-btn-accept-banner"),
    ("TrustArc", "#truste-consent-button"),
    ("Didomi", "#didomi-notice-agree-button"),
    ("CookieYes", ".cky-btn-accept"),
    ("Complianz", ".cmplz-accept"),
]

DISCOVER_JS = "({consent}) => {" + JS_LIB + r"""
  const clean = s => (s || '').replace(/\s+/g, ' ').trim();
  const ident = s => /^[A-Za-z][\w-]*$/.test(s || '');
  const rawLabel = el => [...(el.labels || [])].map(l => l.textContent).join(' ') + ' ' + (el.getAttribute('aria-label') || '');
  const TRAP = /honey|hpot|(^|[_-])hp([_-]|$)|bot.?field|leave.?(this|it)?.?(blank|empty)|do.?not.?fill|nicht.?ausf|address2_confirm|fax_only/i;
  const onScreen = el => { const r = el.getBoundingClientRect(); return !(r.right <= 0 || r.bottom <= 0 || r.left > 4000 || r.top > 20000); };
  const labelShown = el => [...(el.labels || [])].some(l => visible(l));
  const honeypot = el => {
    if (el.type === 'hidden') return '';
    const words = [el.name, el.id, el.className, rawLabel(el)].join(' ');
    if (['checkbox', 'radio'].includes(el.type)) {
      if (!((visible(el) && onScreen(el)) || labelShown(el))) return 'invisible to visitors';
    } else if (!visible(el)) return 'invisible to visitors';
    else if (!onScreen(el)) return 'placed off-screen';
    if (el.closest('[aria-hidden=true]')) return 'hidden from visitors (aria-hidden)';
    if (TRAP.test(words)) return 'named like a trap for bots';
    if (el.getAttribute('autocomplete') === 'off' && el.tabIndex < 0) return 'unreachable by keyboard (tabindex=-1, autocomplete=off)';
    return '';
  };
  const describeField = el => ({
    name: el.name || '', id: el.id || '', type: (el.type || el.tagName).toLowerCase(), kind: kindOf(el),
    label: clean(labelOf(el)), placeholder: clean(el.placeholder || ''), autocomplete: (el.getAttribute('autocomplete') || '').toLowerCase(),
    required: !!(el.required || el.getAttribute('aria-required') === 'true' || /\*|\brequired\b|pflicht|obligatoire|obligatorio/i.test(rawLabel(el))),
    visible: visible(el), honeypot: honeypot(el), email: isEmailField(el), value: el.type === 'checkbox' || el.type === 'radio' ? (el.value || '') : '',
    options: el.tagName === 'SELECT' ? [...el.options].map(o => ({value: o.value, text: clean(o.text), disabled: o.disabled})) : [],
  });
  const buttonOf = form => {
    const submitters = [...form.querySelectorAll('button[type=submit], input[type=submit], input[type=image], button:not([type])')]
      .concat(form.id ? [...document.querySelectorAll(`[form="${CSS.escape(form.id)}"]`)].filter(b => b.matches('button, input[type=submit]')) : []);
    const button = submitters.find(visible) || submitters[0];
    if (!button) return null;
    const text = clean(button.innerText || button.value || button.getAttribute('aria-label') || '').slice(0, 80);
    let selector = null;
    if (ident(button.id)) selector = '#' + button.id;
    else if (button.getAttribute('type') === 'submit' && form.querySelectorAll(`${button.tagName.toLowerCase()}[type=submit]`).length === 1)
      selector = `${button.tagName.toLowerCase()}[type=submit]`;
    else if (button.tagName === 'BUTTON' && /^[\p{L}\p{N} .,!?'’&-]{1,40}$/u.test(text)) selector = `button:has-text("${text}")`;
    return {text, selector};
  };
  const formSelector = form => ident(form.id) ? 'form#' + form.id
    : (/^[\w-]+$/.test(form.getAttribute('name') || '') ? `form[name='${form.getAttribute('name')}']` : null);
  const forms = [...document.forms].map((f, index) => {
    const all = controls(f);
    return {index, id: f.id || '', name: f.getAttribute('name') || '', selector: formSelector(f), visible: visible(f),
            action: f.action || '', method: (f.method || 'get').toLowerCase(), email: all.some(isEmailField),
            password: all.some(el => el.type === 'password' && visible(el)),
            fields: all.map(describeField), button: buttonOf(f)};
  });
  let banner = null;
  for (const [tool, selector] of consent) {
    let el = null;
    try { el = document.querySelector(selector); } catch (e) {}
    const shadow = document.querySelector('#usercentrics-root, #usercentrics-cmp-ui');
    if (!el && shadow && shadow.shadowRoot) { try { el = shadow.shadowRoot.querySelector(selector); } catch (e) {} }
    if (el && (visible(el) || (el.getRootNode() !== document))) { banner = {tool, selector}; break; }
  }
  if (!banner) {
    const ACCEPT = /^(accept( all)?( cookies)?|allow( all)?( cookies)?|agree|i agree|ok(ay)?|got it|alle akzeptieren|akzeptieren|zustimmen|alle zulassen|einverstanden|tout accepter|accepter|aceptar( todo)?|accetta( tutto)?)$/i;
    const fixed = el => { for (let n = el; n && n !== document.body; n = n.parentElement) {
      const s = getComputedStyle(n);
      if (s.position === 'fixed' || s.position === 'sticky' || n.getAttribute('role') === 'dialog' || n.getAttribute('aria-modal') === 'true') return n;
    } return null; };
    for (const el of document.querySelectorAll('button, a, [role=button], input[type=button]')) {
      const text = clean(el.innerText || el.value || '');
      if (!visible(el) || !ACCEPT.test(text)) continue;
      const box = fixed(el);
      if (!box) continue;
      const tag = el.tagName.toLowerCase();
      const selector = ident(el.id) ? '#' + el.id : `${ident(box.id) ? '#' + box.id + ' ' : ''}${tag}:text-is("${text}")`;
      banner = {tool: 'a fixed overlay', selector, text};
      break;
    }
  }
  const heading = [...document.querySelectorAll('h1')].find(visible) || [...document.querySelectorAll('h2, [role=heading]')].find(visible);
  return {ready: document.readyState, url: location.href, title: clean(document.title), heading: heading ? clean(heading.innerText) : '',
          password: [...document.querySelectorAll('input[type=password]')].some(visible), forms, banner,
          text: document.body ? document.body.innerText.slice(0, 20000) : ''};
}"""


@dataclass
class FoundLeadForm:
    frame_url: str
    in_iframe: bool
    info: dict[str, Any]


@dataclass
class Discovery:
    """What `new` saw on the page before touching anything but the consent banner."""

    requested_url: str
    nav: Navigation
    title: str = ""
    heading: str = ""
    banner: dict[str, str] | None = None
    forms: list[FoundLeadForm] = field(default_factory=list)
    frames: int = 1
    password: bool = False
    text: str = ""

    @property
    def email_forms(self) -> list[FoundLeadForm]:
        return [f for f in self.forms if f.info["email"]]


def provisional_check(name: str, url: str) -> Check:
    """A check the step context can point at while the real one is still being written."""
    spec = check_model().model_validate({"name": name or "new check", "landing": {"url": url}})
    return Check(spec, file="(funnelwatch new)", slug="new")


@asynccontextmanager
async def browser_page(config: Config, viewport: str, url: str, inbox: "Inbox | None" = None,
                       headed: bool = False) -> AsyncIterator[StepContext]:
    """A step context on a fresh page, opened as the runner opens one (guarded, listened to)."""
    from playwright.async_api import async_playwright

    from ..clock import SYSTEM_CLOCK
    from ..runner import new_token

    settings = config.settings
    async with async_playwright() as playwright:
        holder = BrowserHolder(playwright, settings.browser.executable, settings.browser.headless and not headed,
                               allow_private=settings.browser.allow_private, answer_hits=settings.browser.analytics == "answer")
        try:
            browser = await holder.get()
            check = provisional_check("", url)
            profile = await with_user_agent(browser, viewport, context_profile(settings.browser, check.spec))
            context = await new_context(browser, viewport, profile)
            timeout_s = settings.browser.timeout
            page, _ = await open_page(context, timeout_s)
            token = new_token()
            services = RunServices(run_id=0, ledger=None, clock=SYSTEM_CLOCK, inbox=inbox)  # type: ignore[arg-type]
            ctx = StepContext(check=check, config=config, page=page, context=context, viewport=viewport, run_id=0,
                              token=token, address=settings.inbox.address.replace("{token}", token), timeout_s=timeout_s,
                              artifacts_dir=config.reports_dir / "artifacts" / "new", services=services, profile=profile)
            await watch(ctx)  # a beacon sent while the form's page unloads is heard too (the conversions recorded)
            yield ctx
            await settle_hits(browser)  # the test submission's hits are answered before the browser goes
        finally:
            await holder.close()


async def discover(ctx: StepContext, url: str) -> Discovery:
    """Open `url` like a click, dismiss a consent banner, and read every frame until the forms stop changing."""
    nav = await navigate(ctx, url)
    found = Discovery(url, nav)
    if nav.status is not None and nav.status >= 400:
        return found
    deadline = time.monotonic() + ctx.timeout_s
    signature: Any = None
    stable_since = time.monotonic()
    tried: set[str] = set()
    while True:
        frames = list(ctx.page.frames)
        looks = await asyncio.gather(*(_evaluate(frame, {"consent": CONSENT_BUTTONS}) for frame in frames))
        main = looks[0] if looks else None
        if main and main.get("banner") and found.banner is None and main["banner"]["selector"] not in tried:
            banner = main["banner"]
            tried.add(banner["selector"])
            if await dismiss(ctx, banner["selector"]):
                found.banner = banner
                stable_since = time.monotonic()
                continue
        forms = []
        for frame, seen in zip(frames, looks):
            if not seen:
                continue
            for info in seen["forms"]:
                forms.append(FoundLeadForm(frame.url, frame is not ctx.page.main_frame, info))
        now = time.monotonic()
        current = [(f.frame_url, f.info["index"], len(f.info["fields"]), f.info["email"]) for f in forms]
        if current != signature:
            signature, stable_since = current, now
        ready = main is not None and main.get("ready") == "complete"
        if (ready and now - stable_since >= SETTLE_S) or now >= deadline:
            break
        await asyncio.sleep(POLL_S)
    if main is not None:
        found.title, found.heading, found.text = main.get("title", ""), main.get("heading", ""), main.get("text", "")
        found.password = bool(main.get("password")) or any(bool(s and s.get("password")) for s in looks)
    found.forms = forms
    found.frames = len(ctx.page.frames)
    return found


async def _evaluate(frame: Any, arg: Any) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(frame.evaluate(DISCOVER_JS, arg), 2.0)
    except Exception:
        return None
