"""Alerts after a run (broken, recovered, reminder, monitor problem) and the heartbeat.

Channels are Apprise URLs (`slack://`, `msteams://`, `mailto://`, `json://`,
…): funnelwatch writes no per-service sender. Each channel gets at most one
message per run, a digest of everything it should hear (see `state.py` for
when that is, `message.py` for the wording), with the failure screenshots
attached for channels that take attachments. Results inside a maintenance
window are held: they do not move a channel's state, so the alert (or the
recovery) comes with the first run after the window. Alert state lives in SQLite per
(channel, check, viewport), so a restart neither repeats nor forgets. A
channel that fails keeps its state unsaid, so the next run says it again; it
never fails the run or touches stored results. Channel URLs hold tokens: they
are shown only as `slack://***` and stored only as a fingerprint.

Every outbound call has a total deadline (`SEND_DEADLINE_S`, `HEARTBEAT_DEADLINE_S`),
not just a per-read timeout, which a server trickling its answer never trips:
it runs in a daemon thread that is abandoned when the deadline passes, so a
stuck channel costs one problem line and never keeps the process (and the
cron `flock`) alive.

    problems = dispatch(config, store, outcome)   # never raises
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Iterator, Sequence

from ..clock import utcnow
from ..config import Config
from ..redaction import mask_url
from ..results import Problem, RunResult
from ..schema import AlertChannel
from ..store import DiskFull, Store
from ..threads import abandoned_alive, run_with_deadline
from .message import compose
from .state import Event, advance, blank, heard, unsaid

__all__ = ["dispatch", "send_alerts", "channel_id", "send", "heartbeat", "ping_heartbeat"]

#: At most this many screenshots ride along with one message (a digest of 40 broken funnels stays sendable).
MAX_ATTACHMENTS = 5
#: Pause before the heartbeat's one retry (a blip at the monitoring service).
HEARTBEAT_RETRY_S = 2.0

#: How long one alert channel may take to accept a message, all retries included.
SEND_DEADLINE_S = 20.0
#: How long the heartbeat GET may take, from connect to the status line.
HEARTBEAT_DEADLINE_S = 15.0


def dispatch(config: Config, store: Store, outcome: RunResult, channels: bool = True, scope: str | None = None) -> list[str]:
    """Send what this run calls for; return problems worth showing (never raises).

    `channels` False: the heartbeat only (a shard whose alerts wait for `funnelwatch report`,
    `shard_alerts: at_report`); `scope` names what the message covers (`compose`).
    """
    if not channels:
        return list(ping_heartbeat(config, outcome.exit_code, outcome.shard))
    problems = send_alerts(config, store, outcome, scope)
    problems += ping_heartbeat(config, outcome.exit_code, outcome.shard)
    return problems


def send_alerts(config: Config, store: Store, outcome: RunResult, scope: str | None = None) -> list[str]:
    """One message per alert channel for `outcome`'s results, alert state kept; the problems (never raises)."""
    problems: list[str] = []
    redact = config.redactor.redact  # holds the channel URLs too, typed or from ${VAR}
    for channel in config.settings.alerts:
        try:
            problem = _channel(config, store, outcome, channel, scope)
        except DiskFull as exc:  # sent or not, what it was told could not be saved
            problem = f"alert channel {mask_url(channel.url)}: its state could not be saved ({exc})"
        except Exception as exc:
            problem = f"alert channel {mask_url(channel.url)} failed inside funnelwatch ({type(exc).__name__}); will retry next run"
        if problem:
            problems.append(redact(problem))
    return problems


def ping_heartbeat(config: Config, exit_code: int, shard: str | None = None) -> list[Problem]:
    """After every complete run (and after a run that could not do its job): GET the heartbeat.

    `{status}` in the URL becomes `up` (funnelwatch did its job: exit 0 or 1) or `down` (exit 2),
    `{exit_code}` the exit code, `{shard}` the run's shard (`1-of-2` for `--shard 1/2`, `all`
    unsharded: one dead-man's switch per shard, so a shard that stops running is noticed);
    with `heartbeat_fail:` set, a `down` run pings that URL instead.
    One retry on failure; each try is bounded by `HEARTBEAT_DEADLINE_S` (the failure URL too).
    Returns the problems (no secrets).
    """
    settings = config.settings
    down = exit_code == 2
    url = settings.heartbeat_fail if down and settings.heartbeat_fail else settings.heartbeat
    if not url:
        return []
    config.redactor.add(url)
    url = url.replace("{status}", "down" if down else "up").replace("{exit_code}", str(exit_code))
    url = url.replace("{shard}", shard.replace("/", "-of-") if shard else "all")
    config.redactor.add(url)
    problem = heartbeat(url)
    if problem:
        time.sleep(HEARTBEAT_RETRY_S)
        problem = heartbeat(url)
    return [Problem(config.redactor.redact(problem + " (tried twice)"), "heartbeat")] if problem else []


def channel_id(url: str) -> str:
    """A stable fingerprint of a channel URL: state survives restarts, the token stays out of the database."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _channel(config: Config, store: Store, outcome: RunResult, channel: AlertChannel, scope: str | None = None) -> str | None:
    ident = channel_id(channel.url)
    now = utcnow()
    before = store.alert_state.load(ident)
    after: dict[tuple[str, str], dict] = {}
    events: list[Event] = []
    for result in outcome.results:
        if result.maintenance:  # held: the first run after the window says it
            continue
        key = (result.check, result.viewport)
        current = after.get(key) or before.get(key) or blank(ident, *key)
        after[key], found = advance(current, result, channel, now)
        events += [e for e in found if heard(e, channel)]
    if not events:
        store.alert_state.save(list(after.values()))
        return None
    title, body, kind = compose(events, outcome, config, scope)
    problem = send(channel.url, title, body, kind, attachments=_screenshots(events, config))
    if problem:
        rows = [unsaid(before.get(key) or blank(ident, *key), row) for key, row in after.items()]
        store.alert_state.save(rows)
        return f"alert channel {mask_url(channel.url)}: {problem}; will retry next run"
    store.alert_state.save(list(after.values()))
    return None


def _screenshots(events: list[Event], config: Config) -> list[Path]:
    """The failure screenshots of the broken and still-broken funnels in this message (files that exist)."""
    found: list[Path] = []
    for event in events:
        shot = event.result.artifacts.get("screenshot") if event.kind in ("broken", "reminder", "error") else None
        if shot:
            path = config.reports_dir / shot
            if path.is_file() and path not in found:
                found.append(path)
    return found[:MAX_ATTACHMENTS]


def send(url: str, title: str, body: str, notify_type: str = "info", body_format: str = "text",
         attachments: Sequence[Path] = (), deadline_s: float = SEND_DEADLINE_S) -> str | None:
    """Deliver one message through Apprise within `deadline_s`, files attached where the service takes them
    (Apprise sends the text alone to one that does not); None when it went out, else why not (no secrets).

    `body_format` is "text", "markdown" or "html" (Apprise converts for services that need another).
    """
    import apprise

    # async_mode off: Apprise sends in the calling thread (our daemon thread), not in its own pool,
    # whose threads the interpreter would wait for at exit.
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
    with _quiet():
        if not notifier.add(url):
            return "not a valid Apprise URL (see the Apprise wiki for the URL of your service)"
        attach = apprise.AppriseAttachment([str(p) for p in attachments]) if attachments else None
        try:
            notify = partial(notifier.notify, body=body, title=title, notify_type=notify_type,
                             body_format=apprise.NotifyFormat(body_format), attach=attach)
            sent = run_with_deadline(notify, deadline_s=deadline_s)
        except TimeoutError:
            return f"did not answer within {deadline_s:g}s"
        except Exception as exc:
            return f"could not send ({type(exc).__name__})"
    return None if sent else "the service did not accept the message"


def heartbeat(url: str, deadline_s: float = HEARTBEAT_DEADLINE_S) -> str | None:
    """GET the heartbeat URL (dead-man's switch) within `deadline_s`; None on success, else why not (no secrets)."""
    import requests

    def ping() -> int:
        # Only the status matters: the body is never read (stream=True), so a trickled body costs nothing.
        with requests.get(url, timeout=deadline_s, stream=True) as response:
            return int(response.status_code)

    try:
        status = run_with_deadline(ping, deadline_s=deadline_s)
    except TimeoutError:
        return f"heartbeat {mask_url(url)} did not answer within {deadline_s:g}s"
    except requests.RequestException as exc:
        return f"heartbeat {mask_url(url)} unreachable ({type(exc).__name__})"
    if status >= 400:
        return f"heartbeat {mask_url(url)} answered HTTP {status}"
    return None


@contextmanager
def _quiet() -> Iterator[None]:
    """Apprise logs failures with hosts and paths (tokens live there): keep them off stderr."""
    log = logging.getLogger("apprise")
    level, propagate = log.level, log.propagate
    log.setLevel(logging.CRITICAL + 1)
    log.propagate = False
    try:
        yield
    finally:
        if not abandoned_alive():  # an abandoned send may still log later: it stays quiet for good
            log.setLevel(level)
            log.propagate = propagate
