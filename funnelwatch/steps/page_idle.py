"""Whether anything is still due to happen on a loaded page: the shortcut past the waits that guess.

funnelwatch waits a moment after every page is ready (a tracker's hop may
follow) and before it calls copy missing (a script may still render it). Those
waits are guesses made by the clock, and every page pays them. A page can
instead be asked: a script can only act again from a timer, an animation or
idle callback, an answer from the network, or a navigation it already started.
`INIT_JS` (added to every document before its own scripts run) keeps count of
the short timers, animation frames and idle callbacks still due, the fetches and
XHRs it has not had answered, when script or DOM last ran, and whether the page
started to leave; `pending(page)` reads it (`page_quiet` reads the own-origin count).
When nothing is due, the waits end at once; when anything is, they run as
before, so the shortcut can only make a check faster, never less careful.

Frames are asked too (their scripts may move the top page): each frame's
document runs `INIT_JS` as well, so a page whose frames (a reCAPTCHA badge, a
video player) have nothing due is idle like one without. What it cannot see
counts as pending: a frame that cannot be asked (not yet known to Playwright,
not yet loaded, never watched, nested deeper than `MAX_FRAME_DEPTH` or more
than `MAX_FRAMES` of them), plugins, a meta refresh, and the page's own
network (the callers ask their request counters, which see every frame's
requests). Timers due later than `HORIZON_MS` are not waited for (the
clock-based waits never waited for them either), nor are workers' messages
and web sockets (chat widgets keep those open for ever).

    await page.add_init_script(INIT_JS)   # once per page, before it navigates
    ...
    if not await pending(page):           # '' = nothing due: the page is as it will stay
        ...
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page

#: Timers due within this many milliseconds (and intervals that short) keep a page pending.
HORIZON_MS = 1000
#: Script, DOM or network activity this recent keeps a page pending: its consequences may not show yet.
SETTLE_MS = 50
#: Frames inside frames asked at most this deep, and at most this many frames in one document; more is pending.
MAX_FRAME_DEPTH = 3
MAX_FRAMES = 8
#: A frame that has not answered in this long counts as pending (the top page has no such cap: its callers
#: ask it only once it has loaded).
FRAME_ANSWER_S = 1.0

INIT_JS = """(() => {
  if (window.__funnelwatchIdle) return;
  const w = window.__funnelwatchIdle = {timers: new Map(), intervals: new Set(), frames: new Set(), idles: new Set(),
                                        leaving: false, last: performance.now()};
  const touch = () => { w.last = performance.now(); };
  const wrap = (fn, done) => typeof fn === 'function'
    ? function (...a) { done(); touch(); return fn.apply(this, a); }
    : function () { done(); touch(); return (0, eval)(String(fn)); };
  const native = {st: setTimeout, ct: clearTimeout, si: setInterval, ci: clearInterval,
                  raf: window.requestAnimationFrame, caf: window.cancelAnimationFrame,
                  ric: window.requestIdleCallback, cic: window.cancelIdleCallback};
  const forget = id => { w.timers.delete(id); w.intervals.delete(id); };
  window.setTimeout = function (fn, delay, ...args) {
    let id;
    const ms = Math.max(0, Number(delay) || 0);
    id = native.st.call(window, wrap(fn, () => w.timers.delete(id)), ms, ...args);
    if (ms <= %(horizon)d) w.timers.set(id, performance.now() + ms);
    return id;
  };
  window.setInterval = function (fn, delay, ...args) {
    const ms = Math.max(0, Number(delay) || 0);
    const id = native.si.call(window, wrap(fn, () => {}), ms, ...args);
    if (ms <= %(horizon)d) w.intervals.add(id);
    return id;
  };
  window.clearTimeout = function (id) { forget(id); return native.ct.call(window, id); };
  window.clearInterval = function (id) { forget(id); return native.ci.call(window, id); };
  if (native.raf) {
    window.requestAnimationFrame = function (cb) {
      let id;
      id = native.raf.call(window, wrap(cb, () => w.frames.delete(id)));
      w.frames.add(id);
      return id;
    };
    window.cancelAnimationFrame = function (id) { w.frames.delete(id); return native.caf.call(window, id); };
  }
  if (native.ric) {
    window.requestIdleCallback = function (cb, options) {
      let id;
      id = native.ric.call(window, wrap(cb, () => w.idles.delete(id)), options);
      w.idles.add(id);
      return id;
    };
    window.cancelIdleCallback = function (id) { w.idles.delete(id); return native.cic.call(window, id); };
  }
  if (window.navigation) {
    navigation.addEventListener('navigate', e => {
      touch();
      if (!(e.destination && e.destination.sameDocument)) w.leaving = true;
    });
  }
  // Fetches and XHRs the page started and has no answer to yet (`ownFetches`: those to its own origin),
  // counted in the page: the browser's request events reach funnelwatch a moment later, and on a busy
  // machine that moment is long enough to call a page quiet that is still waiting for its copy.
  w.fetches = 0;
  w.ownFetches = 0;
  const ownOrigin = url => { try { return new URL(url, location.href).origin === location.origin; } catch (e) { return false; } };
  const started = own => { w.fetches += 1; if (own) w.ownFetches += 1; touch(); };
  const ended = own => () => { w.fetches -= 1; if (own) w.ownFetches -= 1; touch(); };
  if (typeof window.fetch === 'function') {
    const nativeFetch = window.fetch;
    window.fetch = function (...a) {
      const answer = nativeFetch.apply(this, a);
      const input = a[0];
      const own = ownOrigin(input instanceof Request ? input.url : String(input));
      started(own);
      answer.then(ended(own), ended(own));
      return answer;
    };
  }
  if (window.XMLHttpRequest) {
    const proto = XMLHttpRequest.prototype, nativeOpen = proto.open, nativeSend = proto.send;
    proto.open = function (...a) { this.__funnelwatchOwn = ownOrigin(String(a[1])); return nativeOpen.apply(this, a); };
    proto.send = function (...a) {
      const own = !!this.__funnelwatchOwn;
      started(own);
      this.addEventListener('loadend', ended(own), {once: true});
      return nativeSend.apply(this, a);
    };
  }
  addEventListener('pagehide', () => { w.leaving = true; });
  new MutationObserver(touch).observe(document, {childList: true, subtree: true, characterData: true});
})();""" % {"horizon": HORIZON_MS}

# What is still due on the current document: '' when nothing is, else a few words saying what; or, when
# only its frames are left to ask, how many frame elements it holds (a number).
_PENDING_JS = """() => {
  const w = window.__funnelwatchIdle;
  if (!w) return 'not watched';
  if (document.readyState !== 'complete') return 'loading';
  if (w.leaving) return 'navigating';
  if (w.fetches > 0) return 'a request';
  const now = performance.now();
  for (const due of w.timers.values()) if (due > now - 1000) return 'a timer';
  if (w.intervals.size) return 'an interval';
  if (w.frames.size) return 'an animation frame';
  if (w.idles.size) return 'an idle callback';
  if (now - w.last < %(settle)d) return 'just changed';
  if (document.querySelector('meta[http-equiv="refresh" i]')) return 'a meta refresh';
  if (document.querySelector('object, embed, portal, fencedframe')) return 'a frame';
  return document.querySelectorAll('iframe, frame').length || '';
}""" % {"settle": SETTLE_MS}


async def pending(page: "Page") -> str:
    """What is still due on the page's current document or its frames' ('' when nothing is);
    unanswerable counts as pending."""
    return await _pending_in(page.main_frame, 0)


async def _pending_in(frame: "Frame", depth: int) -> str:
    try:
        asked = frame.evaluate(_PENDING_JS)
        found = await (asked if depth == 0 else asyncio.wait_for(asked, FRAME_ANSWER_S))
    except Exception:  # navigating, detached, scripts disabled, or a frame too slow to answer
        return "unanswered"
    if isinstance(found, str):
        return found
    if not isinstance(found, int) or isinstance(found, bool):
        return "unanswered"
    # Every frame element must be a frame Playwright knows: one whose attach has not reached Python yet
    # (or one inside a shadow root, which the count misses) makes the numbers differ, and the page pending.
    # A frame with no URL has not loaded its first document (`loading=lazy` below the fold): asking it would
    # wait until it does, and its scripts have not run yet.
    children = [child for child in frame.child_frames if not child.is_detached()]
    if depth >= MAX_FRAME_DEPTH or found > MAX_FRAMES or len(children) != found or not all(c.url for c in children):
        return "a frame"
    answers = await asyncio.gather(*(_pending_in(child, depth + 1) for child in children))
    due = next((answer for answer in answers if answer), "")
    return f"{due.removesuffix(' in a frame')} in a frame" if due else ""
