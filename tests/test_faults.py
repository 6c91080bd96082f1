"""Fault tolerance: whatever the site, the browser, the inbox or the disk does, the run finishes.

Each case asserts the run finishes, the affected check gets the right status
(`fail` with a category when the site is at fault, `error` when funnelwatch
could not check), every other check's result is stored, history is intact,
and no Chromium of the run is left running. Real processes, loopback only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from funnelwatch import Status
from funnelwatch.errors import MonitorProblem
from funnelwatch.results import Category
from funnelwatch.store import Store

from .fixtures.needs import missing

# 8 s: the healthy neighbour has to load in it while the fault eats the other core under CI's parallel load
# (3 s was not enough once); the faults that end by the clock pay it once each.
FAST_CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 8s
  concurrency: 2
defaults:
  retries: 0
"""
NEIGHBOUR = "<title>Neighbour</title><h1>Healthy neighbour</h1>"


# --- helpers ------------------------------------------------------------------------------


def chromium_descendants(root_pid: int | None = None) -> list[int]:
    """Chromium processes whose parent chain leads to `root_pid` (this test process by default)."""
    root_pid = root_pid or os.getpid()
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(errors="replace")
            except OSError:
                continue
            head, tail = stat.rsplit(")", 1)
            names[int(entry)] = head.split("(", 1)[1]
            parents[int(entry)] = int(tail.split()[1])
    found = []
    for pid, name in names.items():
        if "chrom" not in name and "headless" not in name:
            continue
        walk, hops = pid, 0
        while walk > 1 and hops < 64:
            walk, hops = parents.get(walk, 0), hops + 1
            if walk == root_pid:
                found.append(pid)
                break
    return found


def assert_nothing_left_running(root_pid: int | None = None) -> None:
    deadline = time.monotonic() + 10
    while (left := chromium_descendants(root_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"Chromium processes left running: {left}"


def assert_history_intact(project, run_id: int, checks: set[str]) -> None:
    store = Store(project.load().database_path)
    try:
        assert store.run(run_id)["state"] == "complete"
        assert {r.check for r in store.results_for_run(run_id)} == checks
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


def with_neighbour(project, site, text: str) -> None:
    """The check under test plus a healthy neighbour that must pass in the same run."""
    project.config(FAST_CONFIG)
    site.page("/lp/neighbour", NEIGHBOUR)
    project.check("neighbour", f"name: Neighbour\nlanding:\n  url: {site.url('/lp/neighbour')}\n  must_show: [Healthy neighbour]\n")
    project.check("faulty", text)


def run_faulty(project) -> tuple:
    outcome = project.run(report=False)
    by_name = {r.check: r for r in outcome.results}
    assert by_name["Neighbour"].status is Status.PASS, by_name["Neighbour"].reason
    assert_history_intact(project, outcome.run_id, {"Neighbour", "Faulty"})
    assert_nothing_left_running()
    return by_name["Faulty"], outcome


def landing(url: str, extra: str = "") -> str:
    return f"name: Faulty\nlanding:\n  url: {url}\n{extra}"


# --- the site at fault ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_is_a_connection_failure(project, site):
    port = closed_port()
    with_neighbour(project, site, landing(f"http://127.0.0.1:{port}/lp"))
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.CONNECTION)
    assert f"127.0.0.1:{port}" in result.reason and "ERR_CONNECTION_REFUSED" in result.reason


def test_server_that_accepts_and_never_answers_is_a_timeout(project, site, silent_server):
    with_neighbour(project, site, landing(silent_server.url("/lp")))
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.TIMEOUT)
    assert silent_server.url("/lp") in result.reason
    assert silent_server.accepted >= 1


def test_half_a_response_then_a_stall_is_a_timeout(project, site, half_response_server):
    with_neighbour(project, site, landing(half_response_server.url("/lp"), "  must_show: [Half a page]\n"))
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.TIMEOUT)
    assert "127.0.0.1" in result.reason


def test_self_signed_certificate_is_a_connection_failure_naming_the_certificate(project, site, self_signed_server):
    with_neighbour(project, site, landing(self_signed_server.url("/lp")))
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.CONNECTION)
    assert "ERR_CERT" in result.reason


def test_unresolvable_host_is_a_connection_failure(project, site):
    with_neighbour(project, site, landing("http://funnel.invalid/lp"))
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.CONNECTION)
    assert "funnel.invalid" in result.reason and "ERR_NAME_NOT_RESOLVED" in result.reason


def test_ten_thousand_hop_redirect_is_a_redirect_loop_and_stops_early(project, site):
    from funnelwatch.demo.server import Response

    def hop(request):
        number = int(request.query.get("n", ["0"])[0])
        if number >= 10_000:
            return Response(200, "<title>End</title>")
        return Response(302, "", {"Location": f"/hop?n={number + 1}"})

    site.route("/hop", hop)
    with_neighbour(project, site, landing(site.url("/hop?n=0")))
    project.config(FAST_CONFIG.replace("timeout: 8s", "timeout: 20s"))  # the loop, not the clock, must end the step
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.REDIRECT_LOOP)
    assert "/hop?n=0" in result.reason
    assert len(site.hits("/hop")) < 100


def test_500_mb_response_is_a_timeout_not_a_memory_blowup(project, site, huge_response_server):
    with_neighbour(project, site, landing(huge_response_server.url("/lp"), "  must_show: [Thank you]\n"))
    project.config(FAST_CONFIG.replace("timeout: 8s", "timeout: 3s"))  # a longer clock would let loopback stream it all
    result, _ = run_faulty(project)
    assert result.status is Status.FAIL and result.step == "landing"
    assert result.category in (Category.TIMEOUT, Category.TEXT_MISSING), result.reason
    assert huge_response_server.sent < 500 * 2**20


def test_endless_dialogs_popups_and_downloads_do_not_stop_the_check(project, site):
    site.page("/download.bin", "x" * 1000, content_type="application/octet-stream",
              headers={"Content-Disposition": "attachment; filename=spam.bin"})
    site.page("/lp/spam", """<title>Spammy offer</title><h1>Spammy offer</h1><script>
      let n = 0;
      setInterval(() => {
        n += 1;
        window.open('/lp/neighbour?popup=' + n);
        const a = document.createElement('a'); a.href = '/download.bin'; a.download = 'spam' + n + '.bin';
        document.body.appendChild(a); a.click();
        if (n % 3 == 0) alert('Wait! ' + n); else if (n % 3 == 1) confirm('Sure? ' + n); else prompt('Name? ' + n);
      }, 20);
    </script>""")
    with_neighbour(project, site, landing(site.url("/lp/spam"), "  must_show: [Spammy offer]\n"))
    result, _ = run_faulty(project)
    assert result.status is Status.PASS, result.reason


def test_page_that_eats_memory_until_the_tab_crashes_fails_without_hurting_the_run(project, site):
    site.page("/lp/hog", """<title>Hog</title><h1>Hog</h1><script>
      const hoard = [];
      for (;;) { hoard.push(new Array(4e6).fill(hoard.length)); }
    </script>""")
    with_neighbour(project, site, landing(site.url("/lp/hog"), "  must_show: [Hog]\n"))
    project.config(FAST_CONFIG.replace("timeout: 8s", "timeout: 20s"))  # the crash, not the timeout, must end the step
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.CONNECTION), result.reason
    assert "crashed the browser tab" in result.reason


# --- the monitor at fault -----------------------------------------------------------------------


def browser_main_processes(root_pid: int | None = None) -> list[int]:
    """The Chromium browser processes (not renderers, GPU or utility helpers) under `root_pid`."""
    found = []
    for pid in chromium_descendants(root_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(arg.startswith(b"--type=") for arg in command):
            found.append(pid)
    return found


def test_chromium_killed_mid_run_is_an_error_and_the_other_checks_run_on_a_new_browser(project, site):
    project.config(FAST_CONFIG.replace("concurrency: 2", "concurrency: 1").replace("timeout: 8s", "timeout: 10s"))
    site.page("/lp/victim", "<title>Victim</title><h1>Victim</h1>", delay_s=4)
    for name in ("b-after", "c-after"):
        site.page(f"/lp/{name}", f"<title>{name}</title><h1>Page {name}</h1>")
        project.check(name, f"name: {name}\nlanding:\n  url: {site.url('/lp/' + name)}\n  must_show: [Page {name}]\n")
    project.check("a-victim", f"name: Victim\nlanding:\n  url: {site.url('/lp/victim')}\n")
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(project.run(report=False)))
    runner.start()
    deadline = time.monotonic() + 60
    while not site.hits("/lp/victim"):
        assert time.monotonic() < deadline and runner.is_alive(), "the run never reached the victim page"
        time.sleep(0.05)
    killed = browser_main_processes()
    assert killed, "no Chromium browser process found under this test"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    runner.join(120)
    assert not runner.is_alive(), "the run did not finish after Chromium was killed"
    by_name = {r.check: r for r in outcome[0].results}
    victim = by_name["Victim"]
    assert (victim.status, victim.category) == (Status.ERROR, Category.BROWSER), victim.reason
    assert "browser" in victim.reason
    assert [by_name[n].status for n in ("b-after", "c-after")] == [Status.PASS, Status.PASS]
    assert_history_intact(project, outcome[0].run_id, {"Victim", "b-after", "c-after"})
    assert_nothing_left_running()


def test_sigkilled_run_is_incomplete_and_the_next_run_never_resubmits_the_demo_request(project, site, sales):
    from tests.fixtures.sales import demo_check

    site.page("/thanks", "<title>Thanks</title><h1>Thanks, we'll be in touch</h1>", delay_s=30)
    project.check("demo", demo_check(site, "within: 1h\nevery: 7d"))
    process = subprocess.Popen([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not sales.submissions:
            assert process.poll() is None and time.monotonic() < deadline, "the demo request was never submitted"
            time.sleep(0.05)
        browsers = chromium_descendants(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while [pid for pid in browsers if Path(f"/proc/{pid}").exists()] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in browsers if Path(f"/proc/{pid}").exists()], "the killed run left Chromium running"

    site.page("/thanks", "<title>Thanks</title><h1>Thanks, we'll be in touch</h1>")
    after = project.run(report=False)
    assert len(sales.submissions) == 1, "the demo request was submitted twice"
    assert [r.status for r in after.results] != [Status.ERROR]
    store = Store(project.load().database_path)
    try:
        states = [run["state"] for run in reversed(store.runs())]
        assert states == ["incomplete", "complete"]
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


def start_killable_run(project) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill_run_when(process: subprocess.Popen, ready, what: str, signum: int = signal.SIGKILL) -> None:
    """Signal the run (and its browser) as soon as `ready()` is true; SIGKILL it if it is not gone in 30 s."""
    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert process.poll() is None and time.monotonic() < deadline, f"the run never got to {what}"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signum)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def probe_states(project) -> list[str]:
    store = Store(project.load().database_path)
    try:
        return [row["state"] for row in store.ledger.rows()]
    finally:
        store.close()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_run_killed_before_submitting_frees_its_reservation_and_the_next_run_submits(project, site, sales, signum):
    from tests.fixtures.sales import demo_check

    site.page("/lp/demo", "<title>Book a demo</title>slow", delay_s=30)  # the run dies while the form page loads
    project.check("demo", demo_check(site, "within: 1h\nevery: 7d"))
    database = project.load().database_path

    def reserved() -> bool:
        if not database.exists():
            return False
        import sqlite3
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
                return conn.execute("select count(*) from probes where state = 'reserved'").fetchone()[0] == 1
        except sqlite3.Error:
            return False

    kill_run_when(start_killable_run(project), reserved, "reserving its demo request", signum)
    assert not sales.submissions

    from tests.fixtures.sales import FORM_PAGE

    site.page("/lp/demo", FORM_PAGE)
    after = project.run(report=False)
    (result,) = after.results
    assert result.status is Status.PENDING, result.reason
    assert "another run is submitting" not in (result.reason or "")
    assert len(sales.submissions) == 1, "the next run did not send the demo request"
    assert probe_states(project) == ["released", "pending"]


def test_run_killed_after_submitting_leaves_the_demo_request_watched_and_settled_later(project, site, sales):
    from tests.fixtures.sales import demo_check

    sales.reply_after_s = 120
    site.page("/thanks", "<title>Thanks</title><h1>Thanks, we'll be in touch</h1>", delay_s=30)
    project.check("demo", demo_check(site, "within: 1h\nevery: 7d"))
    kill_run_when(start_killable_run(project), lambda: bool(sales.submissions), "submitting its demo request")

    site.page("/thanks", "<title>Thanks</title><h1>Thanks, we'll be in touch</h1>")
    after = project.run(report=False)
    assert len(sales.submissions) == 1, "the demo request was submitted twice"
    settled = [r for r in after.results if r.status is Status.PASS]
    assert len(settled) == 1, [(r.status, r.reason) for r in after.results]
    assert settled[0].latency_s is not None and 100 < settled[0].latency_s < 140
    assert settled[0].token and settled[0].token in sales.last_address
    assert probe_states(project) == ["passed"]


def seeded(project, site) -> Path:
    """A project with one stored run; returns its database path."""
    project.config(FAST_CONFIG)
    site.page("/lp/seed", "<title>Seed</title><h1>Seed</h1>")
    project.check("seed", f"name: Seed\nlanding:\n  url: {site.url('/lp/seed')}\n")
    assert project.run(report=False).exit_code == 0
    return project.load().database_path


def cli_run(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run", *args],
                          capture_output=True, text=True, timeout=120)


def test_corrupt_database_is_a_clear_error_exit_2_and_never_overwritten(project, site):
    path = seeded(project, site)
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    path.write_bytes(b"SQLite format 3\0" + os.urandom(4096))
    before = path.read_bytes()
    done = cli_run(project)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "history database" in done.stderr and str(path.name) in done.stderr
    assert path.read_bytes() == before
    assert_nothing_left_running()


def test_read_only_database_is_a_clear_error_exit_2_and_never_overwritten(project, site):
    path = seeded(project, site)
    before = path.read_bytes()
    made_immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    if not made_immutable and os.geteuid() == 0:
        # Root ignores file modes; chattr (e2fsprogs, part of every Debian) is how root gets a read-only file.
        missing("cannot make a file read-only for root here: chattr +i failed (install e2fsprogs)")
    if not made_immutable:
        path.chmod(0o444)
    try:
        done = cli_run(project)
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o644)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and path.name in done.stderr and "readonly" in done.stderr.replace("-", "")
    assert path.read_bytes() == before


def read_only_folder(folder: Path) -> None:
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        if os.geteuid() == 0:
            missing("cannot make a folder read-only for root here: chattr +i failed (install e2fsprogs)")
        folder.chmod(0o555)


@pytest.mark.parametrize("lock_file", ["kept from the last run", "never created"])
def test_read_only_database_folder_is_one_line_naming_the_folder_exit_2(project, site, lock_file):
    path = seeded(project, site)
    if lock_file == "never created":
        Path(str(path) + ".lock").unlink()
    read_only_folder(path.parent)
    try:
        done = cli_run(project)
    finally:
        subprocess.run(["chattr", "-i", str(path.parent)], capture_output=True)
        path.parent.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    # as root, `run` first warns that Chromium runs without its sandbox: that line is not the problem
    (line,) = [line for line in done.stderr.splitlines() if line.strip() and "running as root" not in line]
    assert str(path.parent) in line and "writable" in line


def test_junit_path_that_cannot_be_written_keeps_the_results_and_the_exit_code(project, site):
    project.config(FAST_CONFIG)
    site.page("/lp/ok", "<title>OK</title><h1>OK</h1>")
    project.check("ok", f"name: OK\nlanding:\n  url: {site.url('/lp/ok')}\n")
    project.check("broken", f"name: Broken\nlanding:\n  url: {site.url('/lp/missing')}\n")
    (project.root / "blocker").write_text("a file where the JUnit folder should be")
    done = cli_run(project, "--json", "--junit", str(project.root / "blocker" / "junit.xml"))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "JUnit" in line]
    assert "blocker/junit.xml" in line
    shown = json.loads(done.stdout)
    assert {r["check"]: r["status"] for r in shown["results"]} == {"OK": "pass", "Broken": "fail"}
    assert_history_intact(project, shown["run_id"], {"OK", "Broken"})


def test_reports_dir_that_cannot_be_written_keeps_the_results_and_says_so_once(project, site):
    project.config(FAST_CONFIG.replace("reports_dir: reports", "reports_dir: blocked/reports"))
    (project.root / "blocked").write_text("a file where the reports folder should be")
    site.page("/lp/ok", "<title>OK</title><h1>OK</h1>")
    project.check("ok", f"name: OK\nlanding:\n  url: {site.url('/lp/ok')}\n")
    project.check("broken", f"name: Broken\nlanding:\n  url: {site.url('/lp/missing')}\n")
    done = cli_run(project, "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "report" in done.stderr and "blocked/reports" in done.stderr
    shown = json.loads(done.stdout)
    assert {r["check"]: r["status"] for r in shown["results"]} == {"OK": "pass", "Broken": "fail"}
    assert_history_intact(project, shown["run_id"], {"OK", "Broken"})


def corrupt_old_results(path: Path, marker: bytes) -> None:
    """Break the oldest `results` leaf page (cell count 0xFFFF): new rows still go in, reading old ones fails."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    leaves = [n for n in range(1, len(data) // size) if data[n * size] == 0x0D and marker in data[n * size:(n + 1) * size]]
    assert len(leaves) >= 2, "the seed history fits in one page"
    data[leaves[0] * size + 3:leaves[0] * size + 5] = b"\xff\xff"
    path.write_bytes(bytes(data))


def test_partly_corrupt_history_still_alerts_prints_json_and_says_how_to_recover(project, site, receiver):
    config = FAST_CONFIG + f"alerts:\n  - url: {receiver.apprise_url('/hook/T0KEN-abc123')}\n"
    project.config(config)
    site.page("/lp/seed", "<title>Seed</title><h1>Seed</h1>" + "<p>filler text for evidence</p>" * 200)
    project.check("seed", f"name: Seed Marker\nlanding:\n  url: {site.url('/lp/seed')}\n")
    assert project.run(report=False, alerts=False).exit_code == 0
    path = project.load().database_path
    from funnelwatch.results import CheckResult

    store = Store(path)
    try:
        run_id, _ = store.begin_run("earlier checks")
        for number in range(200):  # results rows are small (evidence has its own table): many, to fill pages
            store.add_result(run_id, CheckResult(check="Seed Marker", file="checks/seed.yaml", status=Status.PASS,
                                                 evidence={"landing": {"note": f"run {number} " + "evidence " * 300}}))
        store.finish_run(run_id, 0)
    finally:
        store.close()
    corrupt_old_results(path, b"Seed Marker")
    project.check("broken", f"name: Broken\nlanding:\n  url: {site.url('/lp/missing')}\n")

    done = cli_run(project, "--json")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    shown = json.loads(done.stdout)
    assert {r["check"]: r["status"] for r in shown["results"]} == {"Seed Marker": "pass", "Broken": "fail"}
    (line,) = [line for line in done.stderr.splitlines() if "report" in line and "recover" in line]
    assert f"sqlite3 {path.name} .recover" in line or f"sqlite3 {path} .recover" in line
    messages = receiver.wait_for(1)
    assert "Broken" in json.dumps(messages)


@pytest.mark.parametrize("failure", ["down", "wrong password"])
def test_imap_down_or_refusing_the_login_leaves_the_probe_pending_as_an_error(project, site, sales, request, failure):
    from tests.fixtures.dovecot import free_port
    from tests.fixtures.sales import PROJECT_CONFIG, demo_check

    project.check("demo", demo_check(site, "within: 1h\nevery: 7d"))
    first = project.run_one(report=False)
    assert first.status is Status.PENDING, first.reason
    if failure == "down":
        imap = f"  imap: {{host: 127.0.0.1, port: {free_port()}, ssl: false, username: qa, password: pw-fault-1}}\n"
    else:
        dovecot = request.getfixturevalue("dovecot")
        imap = f"  imap: {{host: 127.0.0.1, port: {dovecot.imap_port}, ssl: false, username: {dovecot.user}, password: wrong-pw-77}}\n"
    project.config(PROJECT_CONFIG.replace("  maildir:\n    path: inbox\n", imap))
    results = project.run(report=False).results
    assert results and all(r.status is Status.ERROR and r.category is Category.INBOX for r in results), \
        [(r.status, r.category, r.reason) for r in results]
    assert not any("wrong-pw-77" in (r.reason or "") for r in results)
    assert len(sales.submissions) == 1
    store = Store(project.load().database_path)
    try:
        assert [p.state for p in store.ledger.open_probes()] == ["pending"]
    finally:
        store.close()


# --- bad input --------------------------------------------------------------------------------


def key_paths(model, prefix: tuple = ()) -> list[tuple]:
    """Every key path a user can write in a model (lists of models get an index 0)."""
    import typing

    from pydantic import BaseModel

    found = []
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name,)
        found.append(path)
        annotation, listed = field.annotation, False
        for _ in range(4):
            args = typing.get_args(annotation)
            if typing.get_origin(annotation) is list:
                listed = True
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                models = [annotation]
            if models:
                found += key_paths(models[0], path + ((0,) if listed else ()))
                break
            inner = [a for a in args if typing.get_args(a)]
            if not inner:
                break
            annotation = inner[0]
    return found


def _fuzz_strategies():
    from hypothesis import strategies as st

    from funnelwatch.schema import CheckSpec, Settings

    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
        st.text(max_size=40), st.sampled_from(["30s", "-1m", "10KB", "daily at 25:00", "{inbox}", "${FW_FUZZ_MISSING}",
                                               "https://", "desktop", "pdf", "\x00", "\u202e", "{{", "- a", "*a"]),
    )
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                          max_leaves=6)
    settings_paths, check_paths = key_paths(Settings), key_paths(CheckSpec)
    return st, values, settings_paths, check_paths


def _nest(path: tuple, value) -> object:
    for key in reversed(path):
        value = [value] if key == 0 else {key: value}
    return value


def _merge(into: dict, extra: object) -> None:
    if isinstance(extra, dict):
        for key, value in extra.items():
            if isinstance(into.get(key), dict) and isinstance(value, dict):
                _merge(into[key], value)
            else:
                into[key] = value


def _validate_in_process(root: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from funnelwatch.cli import main

    saved = sys.argv
    sys.argv = ["funnelwatch", "-C", str(root), "validate"]
    code: object = 0
    try:
        with CliRunner().isolation() as (out, err, *_):
            try:
                main()
            except SystemExit as exc:
                code = exc.code
            return int(code or 0), err.getvalue().decode("utf-8", "replace") + out.getvalue().decode("utf-8", "replace")
    finally:
        sys.argv = saved


def test_random_yaml_and_random_values_never_give_a_traceback(tmp_path):
    import yaml
    from hypothesis import HealthCheck, given, settings

    st, values, settings_paths, check_paths = _fuzz_strategies()
    document = st.one_of(
        st.text(max_size=200),
        st.builds(lambda picks: picks, st.lists(st.tuples(st.sampled_from(check_paths), values), max_size=4)),
    )
    config_doc = st.lists(st.tuples(st.sampled_from(settings_paths), values), max_size=4)
    counter = iter(range(10**6))

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(config=config_doc, check=document)
    def validate_never_crashes(config, check):
        root = tmp_path / f"p{next(counter)}"
        (root / "config").mkdir(parents=True)
        (root / "checks").mkdir()
        settings_data: dict = {}
        for path, value in config:
            _merge(settings_data, _nest(path, value))
        (root / "config" / "funnelwatch.yaml").write_text(yaml.safe_dump(settings_data, allow_unicode=True), encoding="utf-8")
        if isinstance(check, str):
            text = check
        else:
            data: dict = {"name": "Fuzz", "landing": {"url": "https://example.com/lp"}}
            for path, value in check:
                _merge(data, _nest(path, value))
            text = yaml.safe_dump(data, allow_unicode=True)
        (root / "checks" / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        code, output = _validate_in_process(root)
        assert code in (0, 2), output
        assert "Traceback" not in output and "internal error" not in output, output
        if code == 2:
            lines = [re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", "", line) for line in output.splitlines()]  # off a terminal
            problems = [line for line in lines if line and not line.startswith("needs ")
                        and not re.match(r"^\d+ problems? in \d+ files?$", line)]
            assert problems, output
            for line in problems:
                assert line.startswith(("config/funnelwatch.yaml:", "checks/fuzz.yaml:")) or line.startswith("  "), output

    validate_never_crashes()


# --- hostile content ---------------------------------------------------------------------------

HOSTILE_TITLE = "<script>alert('title')</script>" + "Ω\x07\x1b[31m" * 20 + "T" * 200_000


def test_hostile_page_is_stored_and_shown_as_json_safely(project, site):
    from funnelwatch.demo.server import Response

    body = (b"<html><head><title>" + HOSTILE_TITLE.encode() + b"</title></head><body>"
            b"<h1>Offer \xff\xfe\xc3\x28 broken utf-8</h1><script>document.title += '</script><img src=x onerror=alert(1)>'</script>"
            b"<p>\x00\x01\x02 control \x1b[2J characters \xe2\x80\xa8</p></body></html>")
    site.route("/lp/hostile", lambda _: Response(200, body, {}, "text/html; charset=utf-8"))
    project.config(FAST_CONFIG)
    project.check("hostile", f"name: Hostile <script>alert(1)</script>\nlanding:\n  url: {site.url('/lp/hostile')}\n"
                             "  must_show: [\"Thank you\"]\n")
    done = cli_run(project, "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    shown = json.loads(done.stdout)
    (result,) = shown["results"]
    assert (result["status"], result["step"], result["category"]) == ("fail", "landing", "text_missing")
    assert "Thank you" in result["reason"]
    store = Store(project.load().database_path)
    try:
        (stored,) = store.results_for_run(shown["run_id"])
        assert stored.check == "Hostile <script>alert(1)</script>"
        assert len(json.dumps(stored.evidence)) < 1_000_000
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
    history = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "history"],
                             capture_output=True, text=True, timeout=60)
    assert history.returncode == 0 and "Traceback" not in history.stderr


def test_hostile_delivery_email_is_stored_and_shown_as_json_safely(project, site):
    from funnelwatch.inbox.maildir import deliver

    project.config(FAST_CONFIG + "inbox:\n  maildir:\n    path: inbox\n  address: qa+{token}@example.com\n")
    raw_template = (b"From: =?utf-8?q?Evil_<script>?= <evil@acme.test>\r\nTo: {to}\r\n"
                    b"Subject: Your checklist \x1b[31m<script>alert(1)</script> \xff\xfe " + b"S" * 5000 + b"\r\n"
                    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
                    b"<p>Hi {{first_name}} \x00\x01 \xc3\x28</p><a href='javascript:alert(1)'>Download</a>"
                    b"<script>alert(2)</script>\r\n")

    def lead(request):
        from funnelwatch.demo.server import Response

        to = request.form().get("email", "")
        deliver(project.root / "inbox", raw_template.replace(b"{to}", to.encode()))
        return Response(303, "", {"Location": "/thanks/hostile"})

    site.page("/lp/hostile-mail", "<title>Get it</title><form method=post action=/lead/hostile-mail>"
              "<input type=email name=email><button type=submit>Get it</button></form>")
    site.route("/lead/hostile-mail", lead)
    site.page("/thanks/hostile", "<title>Thanks</title><p>Check your inbox</p>")
    project.check("mail", f"""name: Hostile mail
landing:
  url: {site.url('/lp/hostile-mail')}
form:
  fill:
    email: "{{inbox}}"
  success:
    text: Check your inbox
asset:
  email:
    subject_contains: checklist
    within: 5s
  link_text: Download
  expect:
    type: pdf
""")
    done = cli_run(project, "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert (result["status"], result["step"]) == ("fail", "asset"), result
    store = Store(project.load().database_path)
    try:
        (stored,) = store.results_for_run(json.loads(done.stdout)["run_id"])
        assert stored.status is Status.FAIL
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


# --- soak -----------------------------------------------------------------------------------------


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_soak_200_scheduled_runs_leak_no_files_browsers_or_memory(project, site):
    from datetime import datetime

    import time_machine

    from funnelwatch import api
    from funnelwatch.daemon import Daemon

    runs, browser_every, total = 0, 25, 200
    site.page("/lp/soak", "<title>Soak</title><h1>Soak</h1>")
    project.config(FAST_CONFIG)
    project.check("soak", f"name: Soak\nschedule: every 10 minutes\nlanding:\n  url: {site.url('/lp/soak')}\n")
    figures: dict[str, tuple[int, int, int]] = {}

    def run(config, checks=None, settle_only=False, **_):
        """The real `funnelwatch.run`; every 25th with Chromium, the others store-and-report only (fast)."""
        nonlocal runs
        runs += 1
        with_browser = runs % browser_every == 1
        outcome = api.run(config, checks=checks, settle_only=not with_browser, alerts=False, report=runs % 5 == 0)
        if with_browser:
            assert [r.status for r in outcome.results] == [Status.PASS], [r.reason for r in outcome.results]
        if runs in (2 * browser_every, total):  # after warm-up, and at the end
            figures[f"after run {runs}"] = (len(os.listdir("/proc/self/fd")), len(chromium_descendants()), _rss_kb())
        return outcome

    lines: list[str] = []
    with time_machine.travel(datetime(2026, 11, 23, 1, 0).astimezone(), tick=False) as clock:
        daemon = Daemon(project.root, run=run, sleep=clock.shift, log=lines.append,
                        reload_every_s=10**7, settle_every_s=10**9)
        began = time.monotonic()
        daemon.serve(until=lambda: runs >= total, handle_signals=False)
    took = time.monotonic() - began
    (fds0, chromes0, rss0), (fds1, chromes1, rss1) = figures.values()
    print(f"\nsoak: {total} scheduled runs in {took:.1f}s; open files {fds0} → {fds1}, "
          f"Chromium processes {chromes0} → {chromes1}, RSS {rss0 / 1024:.0f} → {rss1 / 1024:.0f} MB")
    assert runs == total
    assert fds1 - fds0 <= 5, f"open files grew from {fds0} to {fds1}"
    assert chromes0 == chromes1 == 0
    assert rss1 - rss0 <= 60 * 1024, f"RSS grew from {rss0} kB to {rss1} kB"
    store = Store(project.load().database_path)
    try:
        states = {row["state"] for row in store.db.query("select state from runs")}
        assert states == {"complete"} and store.db.execute("select count(*) from runs").fetchone()[0] == total
    finally:
        store.close()


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_never_reach_database_reports_logs_json_or_junit(project, site, tmp_path):
    import secrets as token

    markers = {name: f"FWSECRET{token.token_hex(6)}" for name in ("IMAP", "ALERT", "HEARTBEAT")}
    closed = closed_port()
    env = {
        **os.environ,
        "FW_T_IMAP_PASSWORD": markers["IMAP"],
        "FW_T_ALERT_URL": f"json://127.0.0.1:{closed}/hook/{markers['ALERT']}",
        "FW_T_HEARTBEAT": f"http://127.0.0.1:{closed}/ping/{markers['HEARTBEAT']}",
    }
    project.config(FAST_CONFIG + f"""inbox:
  imap:
    host: 127.0.0.1
    port: {closed}
    ssl: false
    username: qa
    password: ${{FW_T_IMAP_PASSWORD}}
  address: qa+{{token}}@example.com
alerts:
  - url: ${{FW_T_ALERT_URL}}
    on: [broken, recovered, error]
heartbeat: ${{FW_T_HEARTBEAT}}
""")
    site.page("/lp/secret", "<title>Offer</title><form method=post action=/lead/secret><input type=email name=email>"
              "<button type=submit>Get it</button></form>")
    site.redirect("/lead/secret", "/thanks/secret", 303)
    site.page("/thanks/secret", "<title>Thanks</title><p>Check your inbox</p>")
    project.check("mail", f"""name: Secret funnel
landing:
  url: {site.url('/lp/secret')}
form:
  fill:
    email: "{{inbox}}"
  success:
    text: Check your inbox
asset:
  email:
    within: 3s
  link_text: Download
""")
    project.check("missing", f"name: Broken page\nlanding:\n  url: {site.url('/lp/not-there')}\n")
    junit = tmp_path / "junit.xml"
    cli = [sys.executable, "-m", "funnelwatch", "-C", str(project.root)]
    done = subprocess.run(cli + ["run", "--json", "--junit", str(junit)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr
    outputs = [done.stdout, done.stderr, junit.read_text(errors="replace")]
    for command in (["history"], ["report"], ["validate"]):
        extra = subprocess.run(cli + command, capture_output=True, text=True, env=env, timeout=60)
        outputs += [extra.stdout, extra.stderr]
    files = [p for p in project.root.rglob("*") if p.is_file() and not p.is_relative_to(project.root / "config")]
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".html" for p in files)
    for name, marker in markers.items():
        for text in outputs:
            assert marker not in text, f"the {name} secret leaked into command output: …{text[text.find(marker) - 200:][:300]}"
        for path in files:
            assert marker.encode() not in path.read_bytes(), f"the {name} secret leaked into {path}"


def test_redacting_a_megabyte_takes_under_a_second_whatever_its_shape():
    from funnelwatch.redaction import Redactor

    redactor = Redactor()
    redactor.add("Sp ec|al<abc>")
    redactor.add("pin")
    shapes = {
        "letters": "x" * 1_000_000,
        "schemes": "a://" * 250_000,
        "credentials": ("http://" + "u" * 200 + ":") * 4_000,
        "percent": "%3C" * 333_333,
        "spaces": "Sp+" * 333_333,
        "assignments": "=pi" * 333_333,
    }
    for name, text in shapes.items():
        began = time.perf_counter()
        redactor.redact(text)
        took = time.perf_counter() - began
        assert took < 1.0, f"redacting 1 MB of {name} took {took:.1f}s"


def test_evidence_strings_are_capped_before_they_are_redacted_and_kept():
    from funnelwatch import redaction

    redactor = redaction.Redactor()
    redactor.add("tail-secret-9f2")
    huge = "y" * (redaction.MAX_KEPT_CHARS - 5) + "tail-secret-9f2" + "z" * 3_000_000
    kept = redactor.redact_deep({"page": {"text": huge}, "list": [huge]})
    for text in (kept["page"]["text"], kept["list"][0]):
        assert len(text) <= redaction.MAX_KEPT_CHARS + 1
        assert "tail-se" not in text and "-9f2" not in text


SPECIAL_SECRET = "Sp ec|al<abc>"


def spellings(secret: str) -> set[str]:
    """How a value can appear once a browser, a form or a library has URL-encoded it (or HTML has escaped it)."""
    from html import escape
    from urllib.parse import quote, quote_plus

    found = {secret, escape(secret), escape(secret, quote=False)}
    for encode in (quote, quote_plus):
        for safe in ("", "/", "|", "|/", "*-._~"):
            encoded = encode(secret, safe=safe)
            found |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)}
    found.add("Sp%20ec|al%3Cabc%3E")  # Chromium, in a URL
    found.add("Sp+ec%7Cal%3Cabc%3E")  # Chromium, submitting a GET form
    return found


def test_url_encoded_and_form_encoded_spellings_of_a_secret_are_redacted():
    from funnelwatch.redaction import Redactor

    redactor = Redactor()
    redactor.add(SPECIAL_SECRET)
    for spelling in spellings(SPECIAL_SECRET) - {s for s in spellings(SPECIAL_SECRET) if "&" in s}:
        shown = redactor.redact(f"went to http://127.0.0.1/thanks?code={spelling}&next=1")
        assert spelling not in shown and shown.endswith("code=***&next=1"), shown


def test_secret_filled_into_a_get_form_never_shows_in_any_spelling(project, site, tmp_path):
    site.page("/lp/get-secret", "<title>Portal</title><h1>Portal</h1><form method=get action=/portal/welcome>"
              "<input name=email type=email><input name=code type=text><button type=submit>Enter</button></form>")
    site.page("/portal/welcome", "<title>Welcome</title><p>Welcome back</p>")
    project.config(FAST_CONFIG)
    project.check("portal", f"""name: Portal
landing:
  url: {site.url('/lp/get-secret')}
form:
  fill:
    email: qa@example.com
    code: ${{FW_T_PORTAL_SECRET}}
  success:
    text: Access granted
""")
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "FW_T_PORTAL_SECRET": SPECIAL_SECRET}
    cli = [sys.executable, "-m", "funnelwatch", "-C", str(project.root)]
    done = subprocess.run(cli + ["run", "--json", "--junit", str(junit)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert (result["status"], result["step"]) == ("fail", "form"), result
    assert site.hits("/portal/welcome"), "the form was never submitted"
    assert list(project.root.rglob("*.png")), "no failure screenshot (a mask of a field no longer on the page must not stop it)"
    outputs = {"stdout": done.stdout, "stderr": done.stderr, "junit": junit.read_text()}
    history = subprocess.run(cli + ["history"], capture_output=True, text=True, env=env, timeout=60)
    outputs["history"] = history.stdout + history.stderr
    files = [p for p in project.root.rglob("*") if p.is_file() and p.suffix in (".db", ".html", ".json", ".txt", ".xml")]
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".html" for p in files)
    outputs |= {str(p): p.read_bytes().decode("utf-8", "replace") for p in files}
    for where, text in outputs.items():
        for spelling in spellings(SPECIAL_SECRET):
            assert spelling not in text, f"the secret leaked as {spelling!r} into {where}"


def test_a_short_secret_is_redacted_where_it_stands_alone():
    from funnelwatch.redaction import Redactor

    redactor = Redactor()
    redactor.add("7Kq")
    assert redactor.redact("7Kq") == "***"
    assert redactor.redact("https://portal.test/in?pin=7Kq&next=/home") == "https://portal.test/in?pin=***&next=/home"
    assert redactor.redact("https://portal.test/in?pin=7Kq") == "https://portal.test/in?pin=***"
    assert redactor.redact_deep({"fields": [{"name": "pin", "value": "7Kq"}]}) == {"fields": [{"name": "pin", "value": "***"}]}
    assert redactor.redact("the 7Kq7Kq code and 7Kq-tools stay readable") == "the 7Kq7Kq code and 7Kq-tools stay readable"


def test_a_short_secret_is_a_warning_at_validation_not_an_error(project):
    project.check("portal", "name: Portal\nsteps:\n  - goto: http://127.0.0.1:9/login\n  - fill: {'#pin': '${FW_T_PIN_SECRET}'}\n")
    env = {**os.environ, "FW_T_PIN_SECRET": "7Kq"}
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "validate"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    (warning,) = [line for line in done.stderr.splitlines() if "warning" in line]
    assert re.match(r"\S+Z checks/portal\.yaml:4: steps\[1\]\.fill\.#pin: warning:", warning), warning  # stamped off a terminal
    assert "FW_T_PIN_SECRET" in warning and "3 characters" in warning and "7Kq" not in warning


# --- hostile check files ------------------------------------------------------------------------

LOAD_IN_CHILD = """\
import json, sys
import funnelwatch
config = funnelwatch.load_config(sys.argv[1])
print(json.dumps({"checks": [c.name for c in config.checks],
                  "broken": {b.file: [str(d) for d in b.diagnostics] for b in config.broken}}))
"""


def _bounded_memory() -> None:
    """A regression must fail its test, not take the machine's memory with it."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def load_in_child(root: Path, timeout: float = 60) -> dict:
    """Load the project in a separate, memory-capped process with a deadline: a hang, a crash or a
    memory blow-up fails the test instead of the suite."""
    done = subprocess.run([sys.executable, "-c", LOAD_IN_CHILD, str(root)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_bounded_memory)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def with_good_neighbour(project) -> None:
    project.config(FAST_CONFIG)
    project.check("good", "name: Good\nlanding:\n  url: https://example.com/lp\n")


def assert_only_bad_file_broken(loaded: dict, file: str, *words: str) -> str:
    assert loaded["checks"] == ["Good"], loaded
    assert list(loaded["broken"]) == [file], loaded
    (diagnostic, *rest) = loaded["broken"][file]
    assert diagnostic.startswith(file), diagnostic
    for word in words:
        assert word in diagnostic, diagnostic
    assert len(diagnostic) < 300 and "\n" not in diagnostic, diagnostic
    return diagnostic


ALIAS_BOMB = """\
name: Bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

MERGE_BOMB = "name: Merge bomb\nl0: &l0 {a: 1}\n" + "".join(
    f"l{n}: &l{n} {{<<: [*l{n - 1}, *l{n - 1}]}}\n" for n in range(1, 40)
)


@pytest.mark.parametrize("text", [ALIAS_BOMB, MERGE_BOMB], ids=["alias-bomb", "merge-key-bomb"])
def test_alias_bomb_check_file_is_an_error_and_the_other_checks_load(project, text):
    with_good_neighbour(project)
    project.check("bomb", text)
    assert_only_bad_file_broken(load_in_child(project.root), "checks/bomb.yaml", "alias")


@pytest.mark.parametrize("depth", [1_000, 30_000])
@pytest.mark.parametrize("shape", ["list", "mapping"])
def test_deeply_nested_check_file_is_an_error_and_the_other_checks_load(project, depth, shape):
    with_good_neighbour(project)
    nested = "[" * depth + "]" * depth if shape == "list" else "{a: " * depth + "1" + "}" * depth
    project.check("deep", f"name: Deep\nlanding: {nested}\n")
    assert_only_bad_file_broken(load_in_child(project.root), "checks/deep.yaml", "checks/deep.yaml:2:", "nested")


def test_a_check_that_is_its_own_alias_is_an_error_and_the_other_checks_load(project):
    with_good_neighbour(project)
    project.check("loop", "name: Loop\nsteps: &s\n  - goto: https://example.com/\n  - *s\n")
    assert_only_bad_file_broken(load_in_child(project.root), "checks/loop.yaml", "alias")


def test_fifo_in_checks_is_an_error_and_never_blocks_the_others(project):
    with_good_neighbour(project)
    os.mkfifo(project.root / "checks" / "pipe.yaml")
    assert_only_bad_file_broken(load_in_child(project.root, timeout=30), "checks/pipe.yaml", "not a regular file")


def test_link_to_dev_zero_is_an_error_and_is_never_read(project):
    with_good_neighbour(project)
    (project.root / "checks" / "zero.yaml").symlink_to("/dev/zero")
    assert_only_bad_file_broken(load_in_child(project.root, timeout=30), "checks/zero.yaml", "not a regular file")


def test_check_file_over_one_megabyte_is_an_error_and_never_parsed(project):
    with_good_neighbour(project)
    project.check("huge", "name: Huge\nlanding:\n  url: https://example.com/\n  must_show:\n" + "    - word\n" * 200_000)
    assert_only_bad_file_broken(load_in_child(project.root), "checks/huge.yaml", "1 MB")


def test_link_to_a_private_file_outside_the_project_is_refused_and_never_echoed(project, tmp_path_factory):
    with_good_neighbour(project)
    private = tmp_path_factory.mktemp("elsewhere") / "secret.yaml"
    private.write_text("".join(f"user{n}: hunter2-shadow-hash-{n}\n" for n in range(50)), encoding="utf-8")
    private.chmod(0o600)
    (project.root / "checks" / "x.yaml").symlink_to(private)
    loaded = load_in_child(project.root)
    diagnostic = assert_only_bad_file_broken(loaded, "checks/x.yaml", "outside the project")
    assert "hunter2" not in json.dumps(loaded) and "user1" not in json.dumps(loaded)
    validate = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "validate"],
                              capture_output=True, text=True, timeout=60)
    assert validate.returncode == 2 and "hunter2" not in validate.stdout + validate.stderr, validate.stderr
    assert diagnostic in validate.stderr


def test_a_link_inside_the_project_is_still_read(project):
    with_good_neighbour(project)
    shared = project.root / "shared"
    shared.mkdir()
    (shared / "linked.yaml").write_text("name: Linked\nlanding:\n  url: https://example.com/\n", encoding="utf-8")
    (project.root / "checks" / "linked.yaml").symlink_to(shared / "linked.yaml")
    loaded = load_in_child(project.root)
    assert sorted(loaded["checks"]) == ["Good", "Linked"] and not loaded["broken"], loaded


def test_a_file_full_of_unknown_keys_shows_short_key_paths_and_a_bounded_number_of_lines(project):
    with_good_neighbour(project)
    project.check("junk", "name: Junk\nlanding:\n  url: https://example.com/\n"
                  + "".join(f"{'k' * 300}{n}: value-{n}\n" for n in range(200)))
    loaded = load_in_child(project.root)
    lines = loaded["broken"]["checks/junk.yaml"]
    assert len(lines) <= 21, len(lines)
    assert all(len(line) < 300 for line in lines), max(lines, key=len)
    assert "more problems" in lines[-1]
    assert not any("value-" in line for line in lines)


@pytest.mark.parametrize("where", [
    "ad:\n  url: file:///etc/passwd\n",
    "landing:\n  url: file:///etc/passwd\n",
    "landing:\n  url: javascript:alert(1)\n",
    "steps:\n  - goto: https://example.com/\n  - goto: file:///etc/passwd\n",
    "landing:\n  url: https://example.com/\nsteps:\n  - goto: data:text/html,<h1>x</h1>\n",
], ids=["ad.url", "landing.url", "javascript", "steps-goto", "data-url"])
def test_a_url_that_is_not_http_or_https_is_refused_at_validation(project, where):
    project.config(FAST_CONFIG)
    project.check("local", "name: Local\n" + where)
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "validate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout
    (line, *_) = done.stderr.splitlines()
    assert re.match(r"\S+Z checks/local\.yaml:\d+: (ad\.url|landing\.url|steps\[\d\]\.goto): .*http", line), line
    assert "https://" in line


HOSTILE_FILES = {
    "bomb": ALIAS_BOMB,
    "deep": "name: Deep\nlanding: " + "[" * 30_000 + "]" * 30_000 + "\n",
}


def test_schedule_daemon_keeps_running_when_a_hostile_check_file_appears(project, site):
    with_neighbour(project, site, landing(site.url("/lp/neighbour")))
    (project.root / "checks" / "faulty.yaml").unlink()
    daemon = subprocess.Popen([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "schedule"],
                              stderr=subprocess.PIPE, text=True, preexec_fn=_bounded_memory)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(daemon.stderr), daemon=True).start()

    def wait_for(done, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.2)
        assert daemon.poll() is None, "the daemon exited: " + "".join(lines)[-3000:]
        assert done(), "".join(lines)[-3000:]

    try:
        wait_for(lambda: any("loaded 1 scheduled check" in line for line in lines), 30)
        for name, text in HOSTILE_FILES.items():
            project.check(name, text)
        os.mkfifo(project.root / "checks" / "pipe.yaml")
        (project.root / "checks" / "zero.yaml").symlink_to("/dev/zero")
        wanted = [f"skipping checks/{name}.yaml" for name in ("bomb", "deep", "pipe", "zero")]
        wait_for(lambda: all(any(w in line for line in lines) for w in wanted), 45)
        time.sleep(3)  # a reload or two later it is still up
        assert daemon.poll() is None, "".join(lines)[-3000:]
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)


def test_hostile_check_files_are_errors_in_the_run_and_the_neighbour_still_passes(project, site):
    with_neighbour(project, site, landing(site.url("/lp/neighbour")))
    (project.root / "checks" / "faulty.yaml").unlink()
    for name, text in HOSTILE_FILES.items():
        project.check(name, text)
    os.mkfifo(project.root / "checks" / "pipe.yaml")
    (project.root / "checks" / "zero.yaml").symlink_to("/dev/zero")
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run", "--json"],
                          capture_output=True, text=True, timeout=120)  # no memory cap: Chromium reserves gigabytes
    assert done.returncode == 2, done.stderr[-3000:]
    results = {r["file"]: r for r in json.loads(done.stdout)["results"]}
    assert results["checks/neighbour.yaml"]["status"] == "pass"
    for name in ("bomb", "deep", "pipe", "zero"):
        result = results[f"checks/{name}.yaml"]
        assert (result["status"], result["category"]) == ("error", "config"), result
        assert result["reason"].startswith(f"checks/{name}.yaml"), result


SCREEN_PAGE = """<title>Portal</title><h1>Portal</h1>
<form id=login onsubmit="return false"><input type=email name=email>
<input id=code name=code type=text style="font: bold 72px monospace; color: rgb(0, 200, 0); width: 1000px; height: 120px; border: 0">
<button type=submit>Enter</button></form>"""


def colour_counts(png: Path) -> dict[str, int]:
    """How many pixels of the screenshot are the field's green text, and Playwright's magenta mask (read in Chromium)."""
    import base64

    from playwright.sync_api import sync_playwright

    from funnelwatch.browser import find_chromium, launch_options

    data = base64.b64encode(png.read_bytes()).decode()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options(find_chromium()))
        try:
            page = browser.new_page()
            return page.evaluate("""async (data) => {
                const img = new Image(); img.src = 'data:image/png;base64,' + data; await img.decode();
                const canvas = document.createElement('canvas'); canvas.width = img.width; canvas.height = img.height;
                const g = canvas.getContext('2d'); g.drawImage(img, 0, 0);
                const px = g.getImageData(0, 0, img.width, img.height).data;
                let green = 0, magenta = 0;
                for (let i = 0; i < px.length; i += 4) {
                    const [r, gr, b] = [px[i], px[i + 1], px[i + 2]];
                    if (r < 60 && gr > 150 && b < 60) green++;
                    if (r > 220 && gr < 40 && b > 220) magenta++;
                }
                return {green, magenta};
            }""", data)
        finally:
            browser.close()


@pytest.mark.parametrize("how", ["form", "steps"])
def test_a_secret_typed_into_a_visible_field_is_masked_in_the_failure_screenshot(project, site, how):
    site.page("/lp/screen", SCREEN_PAGE)
    project.config(FAST_CONFIG)
    for name, value in (("secret", "${FW_T_SCREEN_SECRET}"), ("plain", "PLAIN-CODE-1")):
        if how == "form":
            body = f"landing:\n  url: {site.url('/lp/screen')}\nform:\n  fill:\n    email: qa@example.com\n    code: '{value}'\n" \
                   "  success:\n    text: Access granted\n"
        else:
            body = f"steps:\n  - goto: {site.url('/lp/screen')}\n  - fill: {{'#code': '{value}'}}\n  - expect_text: Access granted\n"
        project.check(name, f"name: {name}\n{body}")
    os.environ["FW_T_SCREEN_SECRET"] = "SECRET-CODE-1"
    try:
        outcome = project.run(report=False)
    finally:
        del os.environ["FW_T_SCREEN_SECRET"]
    shots = {}
    for result in outcome.results:
        assert result.status is Status.FAIL and result.category is Category.TEXT_MISSING if how == "steps" else True, result.reason
        shots[result.check] = colour_counts(project.load().reports_dir / result.artifacts["screenshot"])
    assert shots["plain"]["green"] > 500, "the probe cannot see the field's text at all"
    assert shots["plain"]["magenta"] == 0
    assert shots["secret"]["green"] == 0, "the secret is readable in the failure screenshot"
    assert shots["secret"]["magenta"] > 50_000


TERMINAL_TRICKS = ("\x1b", "\x07", "\u202e", "\u2066", "\x9b", "\r")


def test_escape_codes_and_bidi_controls_from_a_page_never_reach_the_terminal_or_logs(project, site):
    site.page("/lp/tricks", """<title>Tricks</title>
<form method="post" action="/lead/tricks"><input type="email" name="email" required>
<input name="company" required
  oninvalid="this.setCustomValidity('Pay now\\x1b]0;pwned\\x07 \\u202eevil\\u2066 \\x9b2J\\nFORGED LOG LINE\\r')">
<button type="submit">Send</button></form>""")
    project.config(FAST_CONFIG)
    project.check("tricks", f"""name: Tricks
landing:
  url: {site.url('/lp/tricks')}
form:
  fill:
    email: "{{inbox}}"
  success:
    text: Thanks
""")
    done = cli_run(project)
    assert done.returncode == 1, done.stderr
    assert "pwned" in done.stderr and "FORGED LOG LINE" in done.stderr, done.stderr
    for trick in TERMINAL_TRICKS:
        assert trick not in done.stderr + done.stdout, (trick, done.stderr)
    (line,) = [line for line in done.stderr.splitlines() if "pwned" in line]
    assert "FORGED LOG LINE" in line and "\\x1b]0;pwned\\x07" in line and "\\u202e" in line, line
    as_json = cli_run(project, "--json")
    for trick in TERMINAL_TRICKS:
        assert trick not in as_json.stdout + as_json.stderr, trick
    (result,) = json.loads(as_json.stdout)["results"]
    assert "\x1b]0;pwned\x07 \u202eevil" in result["reason"]  # the data is kept; only its display is escaped
    history = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "history"],
                             capture_output=True, text=True, timeout=60)
    assert history.returncode == 0 and "pwned" in history.stdout, history.stderr
    for trick in TERMINAL_TRICKS:
        assert trick not in history.stdout + history.stderr, trick
    assert len([line for line in history.stdout.splitlines() if "Tricks" in line]) == 2
    assert not any(line.startswith("FORGED") for line in history.stdout.splitlines())


def test_names_from_an_ads_export_are_printed_escaped(project, tmp_path):
    export = tmp_path / "tricks.csv"
    export.write_text('Campaign name,Headline,Website URL\n"Spring\x1b]0;pwned\x07\u202e",Free checklist,'
                      'https://acme.example/lp\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "import-ads", str(export)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pwned" in done.stdout
    for trick in TERMINAL_TRICKS:
        assert trick not in done.stdout + done.stderr, trick


# --- internal addresses -----------------------------------------------------------------------

METADATA_URL = "http://169.254.169.254/latest/meta-data/"
PRIVATE_URL = "http://10.255.255.1/"


def test_address_guard_blocks_link_local_metadata_and_private_addresses_after_resolution():
    from funnelwatch.netguard import AddressGuard

    looked_up: list[str] = []
    names = {"meta.attacker.test": ["93.184.216.34", "169.254.169.254"], "intranet.attacker.test": ["10.1.2.3"],
             "staging.acme.test": ["10.1.9.9"], "shop.acme.test": ["93.184.216.34"], "v6.attacker.test": ["fe80::1"]}

    def resolve(host: str) -> list[str]:
        looked_up.append(host)
        return names.get(host, [])

    guard = AddressGuard(["10.1.0.0/16"], resolve=resolve)
    assert "cloud-metadata" in guard.check("https://meta.attacker.test/latest/")  # one bad address is enough
    assert "link-local" in guard.check("http://v6.attacker.test/")
    assert guard.check("http://intranet.attacker.test/") is None  # 10.1/16 is allowed here
    assert guard.check("http://staging.acme.test/lp") is None
    assert guard.check("https://shop.acme.test/") is None and guard.check("http://unknown.test/") is None
    assert guard.check("http://127.0.0.1:8080/lp") is None and guard.check("http://localhost/") is None
    assert "link-local" in guard.check("http://[::ffff:169.254.1.1]/") and "cloud-metadata" in guard.check("http://[fd00:ec2::254]/")
    assert "cloud-metadata" in guard.check("http://metadata.google.internal/computeMetadata/v1/")
    blocked = AddressGuard(resolve=resolve).check("http://intranet.attacker.test/admin")
    assert blocked.startswith("http://intranet.attacker.test/admin is blocked: intranet.attacker.test (10.1.2.3) is a private")
    assert "browser.allow_private: [10.1.2.0/24]" in blocked
    guard.check("https://meta.attacker.test/other")
    assert looked_up.count("meta.attacker.test") == 1, "a host is resolved once per guard"


def test_allow_private_refuses_link_local_ranges_at_validation(project):
    project.config(FAST_CONFIG.replace("  concurrency: 2\n", "  concurrency: 2\n  allow_private: [10.1.0.0/16, 169.254.0.0/16, nonsense]\n"))
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "validate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "config/funnelwatch.yaml:6: browser.allow_private" in done.stderr and "never allowed" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("target, kind", [(METADATA_URL, "cloud-metadata"), (PRIVATE_URL, "private")])
def test_a_redirect_to_an_internal_address_is_blocked_before_it_leaves_the_browser(project, site, target, kind):
    site.redirect("/go/internal", target, 302, keep_query=False)
    site.page("/lp/sneaky", f"<title>Sneaky</title><h1>Sneaky</h1><img src='{site.url('/go/internal')}'>"
              f"<iframe src='{target}'></iframe>")
    with_neighbour(project, site, "name: Faulty\nsteps:\n"
                   f"  - goto: {site.url('/lp/sneaky')}\n  - expect_text: Sneaky\n  - goto: {site.url('/go/internal')}\n")
    began = time.monotonic()
    result, outcome = run_faulty(project)
    assert time.monotonic() - began < 30
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[2]", Category.CONNECTION), result.reason
    assert result.reason.startswith(f"{target} is blocked: ") and f"is a {kind}" in result.reason
    if kind == "private":
        assert "browser.allow_private: [10.255.255.0/24]" in result.reason
    failed = [r for r in result.evidence.get("failed_requests", []) if r["url"].startswith(target)]
    assert failed and all("ERR_BLOCKED_BY_CLIENT" in r["error"] for r in failed), result.evidence.get("failed_requests")


def test_allow_private_lets_a_staging_address_through_to_a_normal_connection(project, site):
    site.redirect("/go/staging", PRIVATE_URL, 302, keep_query=False)
    with_neighbour(project, site, landing(site.url("/go/staging")))
    project.config(FAST_CONFIG.replace("  concurrency: 2\n", "  concurrency: 2\n  allow_private: [10.0.0.0/8]\n"))
    result, _ = run_faulty(project)
    assert result.status is Status.FAIL and result.category in (Category.CONNECTION, Category.TIMEOUT), result.reason
    assert "blocked" not in result.reason and "allow_private" not in result.reason, result.reason


def test_an_asset_link_redirecting_to_cloud_metadata_is_blocked_before_the_download(project, site):
    site.redirect("/dl/checklist", METADATA_URL, 302, keep_query=False)
    site.page("/lp/dl", f"<title>Get it</title><h1>Checklist</h1><a href='{site.url('/dl/checklist')}'>Download</a>")
    with_neighbour(project, site, landing(site.url("/lp/dl")) + "asset:\n  page_link: Download\n  expect:\n    type: pdf\n")
    began = time.monotonic()
    result, _ = run_faulty(project)
    assert time.monotonic() - began < 30
    assert (result.status, result.step, result.category) == (Status.FAIL, "asset", Category.ASSET_UNREACHABLE), result.reason
    assert f"{METADATA_URL} is blocked" in result.reason and "cloud-metadata" in result.reason
    chain = result.evidence["asset"]["chain"]
    assert [hop["url"] for hop in chain] == [site.url("/dl/checklist"), METADATA_URL] and chain[-1]["status"] is None


# --- slow drips: every network read has an overall deadline, and the process exits on time ---------------

DRIP_BOUND_S = 75


def bounded_cli_run(project, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`funnelwatch run --json` as its own process, which must end within DRIP_BOUND_S whatever a peer does."""
    began = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run", "--json", *args],
                              capture_output=True, text=True, timeout=DRIP_BOUND_S)
    except subprocess.TimeoutExpired as stuck:
        pytest.fail(f"the run was still going after {DRIP_BOUND_S}s (stderr: {stuck.stderr!r})")
    return done, time.monotonic() - began


def assert_run_settled(project, run_id: int) -> None:
    """The run's results are stored (each failure with its reason), it is not left `running`, and its lock is free."""
    from funnelwatch.locking import RunLock

    config = project.load()
    store = Store(config.database_path)
    try:
        assert store.run(run_id)["state"] == "complete"
        stored = store.results_for_run(run_id)
        assert stored and all(r.reason for r in stored if r.status is not Status.PASS)
    finally:
        store.close()
    with RunLock(config.database_path, "exit"):
        pass


def drip_download_check(site, url: str) -> str:
    site.page("/lp/drip-guide", f'<title>Guide</title><h1>Get the guide</h1><a href="{url}">Download the guide</a>')
    return (f"name: Faulty\nlanding:\n  url: {site.url('/lp/drip-guide')}\n"
            "asset:\n  page_link: Download the guide\n  expect: {type: pdf}\n")


def test_a_download_dripping_one_byte_every_two_seconds_fails_on_time_and_the_process_exits(project, site, drip_server):
    with_neighbour(project, site, drip_download_check(site, drip_server.url("/hubfs/guide.pdf")))
    done, took = bounded_cli_run(project)
    assert "Traceback" not in done.stderr, done.stderr
    shown = json.loads(done.stdout)
    faulty = next(r for r in shown["results"] if r["check"] == "Faulty")
    assert (faulty["status"], faulty["step"], faulty["category"]) == ("fail", "asset", "asset_unreachable"), faulty
    assert "did not finish in time" in faulty["reason"] and drip_server.url("/hubfs/guide.pdf") in faulty["reason"]
    assert {r["check"]: r["status"] for r in shown["results"]}["Neighbour"] == "pass"
    assert drip_server.drip.dripped < 20  # given up at the deadline, not read for minutes
    assert_run_settled(project, shown["run_id"])


IMAP_WAIT_CHECK = """\
name: Faulty
landing:
  url: {url}
asset:
  email: {{subject_contains: Your guide, within: 30s}}
  link_text: Download
"""


@pytest.mark.parametrize("answer", ["search", "fetch"])
def test_an_imap_answer_dripping_one_byte_every_two_seconds_is_an_inbox_error_on_time(project, site, fake_imap, answer):
    imap = fake_imap(fetch=b"", drip=answer)
    with_neighbour(project, site, IMAP_WAIT_CHECK.format(url=site.url("/lp/neighbour")))
    project.config(FAST_CONFIG + imap.config_yaml(timeout="5s"))
    done, took = bounded_cli_run(project)
    assert "Traceback" not in done.stderr, done.stderr
    shown = json.loads(done.stdout)
    faulty = next(r for r in shown["results"] if r["check"] == "Faulty")
    assert (faulty["status"], faulty["step"], faulty["category"]) == ("error", "asset", "inbox"), faulty
    assert f"127.0.0.1:{imap.port}" in faulty["reason"] and "5s" in faulty["reason"], faulty["reason"]
    assert f"UID {answer.upper()}" in imap.commands
    assert "fake-imap-pw" not in done.stdout + done.stderr
    assert_run_settled(project, shown["run_id"])


def test_a_heartbeat_url_dripping_its_answer_is_a_problem_line_and_the_process_exits_on_time(project, site, drip_server):
    drip_server.whole = True  # the status line itself comes a byte every 2 s
    project.config(FAST_CONFIG + f"heartbeat: {drip_server.url('/ping/HB-T0KEN-1')}\n")
    site.page("/lp/ok", "<title>OK</title><h1>OK</h1>")
    project.check("ok", f"name: OK\nlanding:\n  url: {site.url('/lp/ok')}\n")
    done, took = bounded_cli_run(project)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "heartbeat" in line]
    assert "did not answer within" in line and "HB-T0KEN-1" not in line
    assert_run_settled(project, json.loads(done.stdout)["run_id"])


def test_an_alert_channel_dripping_its_answer_is_a_problem_line_and_the_process_exits_on_time(project, site, drip_server):
    url = drip_server.url("/hook/AL-T0KEN-1").replace("http://", "json://")
    project.config(FAST_CONFIG + f"alerts:\n  - url: {url}\n")
    project.check("broken", f"name: Broken\nlanding:\n  url: {site.url('/lp/missing')}\n")
    done, took = bounded_cli_run(project)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "alert channel" in line]
    assert "did not answer within" in line and "will retry next run" in line and "AL-T0KEN-1" not in line
    assert drip_server.accepted >= 1
    assert_run_settled(project, json.loads(done.stdout)["run_id"])


# --- malformed and oversized mail: inbox problems with a size cap, never internal errors --------------


def fake_imap_inbox(server, timeout_s: float = 5.0):
    from funnelwatch.inbox.imap import ImapInbox, ImapSettings

    settings = ImapSettings(host="127.0.0.1", port=server.port, security="none", username="qa", password="fake-imap-pw")
    return ImapInbox(settings, address="qa+{token}@example.com", timeout_s=timeout_s)


@pytest.mark.parametrize("case, answers, said", [
    ("undecodable bytes in SEARCH", {"search": b"* SEARCH 7 \x00\xff\r\n"}, "bytes that are not IMAP"),
    ("a 93 GB literal in FETCH", {"fetch": b"* 1 FETCH (UID 7 BODY[] {99999999999}\r\n"}, "over the 70.0 MB cap"),
    ("garbage instead of an answer", {"search": b"\x00\xff\x00\xff\r\n"}, "IMAP folder 'INBOX'"),
])
def test_malformed_imap_answers_are_inbox_problems_not_internal_errors(fake_imap, case, answers, said):
    server = fake_imap(**answers)
    inbox = fake_imap_inbox(server)
    inbox.open()
    began = time.monotonic()
    try:
        with pytest.raises(MonitorProblem) as caught:
            inbox.messages_for("fw0123456789")
    finally:
        inbox.close()
    assert caught.value.category is Category.INBOX, case
    assert f"127.0.0.1:{server.port}" in caught.value.reason and said in caught.value.reason, caught.value.reason
    assert "fake-imap-pw" not in caught.value.reason
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("case, junk_search, drip, said", [
    ("undecodable bytes", b"* SEARCH 7 \x00\xff\r\n", None, "bytes that are not IMAP"),
    ("a drip one byte every two seconds", b"* SEARCH 7\r\n", "junk", "no complete answer within 3s"),
])
def test_a_junk_folder_answering_malformed_or_dripping_is_an_inbox_problem_naming_it(fake_imap, case, junk_search, drip, said):
    server = fake_imap(junk_search=junk_search, drip=drip)
    inbox = fake_imap_inbox(server, timeout_s=3.0)
    inbox.open()
    assert inbox.junk == ["Junk"]
    began = time.monotonic()
    try:
        with pytest.raises(MonitorProblem) as caught:
            inbox.messages_for("fw0123456789")
    finally:
        inbox.close()
    assert caught.value.category is Category.INBOX, case
    assert "IMAP folder 'Junk'" in caught.value.reason and said in caught.value.reason, caught.value.reason
    assert "fake-imap-pw" not in caught.value.reason
    assert time.monotonic() - began < 10
    if drip:
        assert server.drip.dripped < 5  # cut at the deadline, not read for minutes


def test_undecodable_bytes_inside_a_fetched_message_are_read_as_that_message(fake_imap):
    raw = b"To: qa+fw0123456789@example.com\r\nSubject: caf\xe9 \x00\xff\r\n\r\nbody \xff\x00\r\n"
    server = fake_imap(fetch=b"* 1 FETCH (UID 7 BODY[] {%d}\r\n" % len(raw) + raw + b")\r\n")
    inbox = fake_imap_inbox(server)
    inbox.open()
    try:
        (message,) = inbox.messages_for("fw0123456789")
    finally:
        inbox.close()
    assert message.raw == raw and message.subject.startswith("caf")


def test_a_malformed_imap_answer_in_a_run_is_an_inbox_error_with_the_neighbour_passing(project, site, fake_imap):
    imap = fake_imap(search=b"* SEARCH 7 \x00\xff\r\n")
    with_neighbour(project, site, IMAP_WAIT_CHECK.format(url=site.url("/lp/neighbour")))
    project.config(FAST_CONFIG + imap.config_yaml())
    result, _ = run_faulty(project)
    assert (result.status, result.step, result.category) == (Status.ERROR, "asset", Category.INBOX), result.reason
    assert "not IMAP" in result.reason


def test_smtp_inbox_refuses_oversized_mail_and_defers_once_its_memory_cap_is_reached():
    import smtplib

    from funnelwatch.inbox.guard import MAX_KEPT_BYTES, MAX_MESSAGE_BYTES
    from funnelwatch.inbox.smtp import SmtpInbox, SmtpSettings
    from tests.fixtures.dovecot import free_port
    from tests.fixtures.emails import plain_email

    assert (MAX_MESSAGE_BYTES, MAX_KEPT_BYTES) == (70_000_000, 300_000_000)  # five 60 MB messages no longer fit
    port = free_port()
    inbox = SmtpInbox(SmtpSettings(host="127.0.0.1", port=port), max_message_bytes=100_000, max_kept_bytes=250_000)
    inbox.open()
    to = "qa+fwcap0000001@example.com"
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPException) as too_big:
                client.sendmail("s@acme.test", [to], plain_email(to, "Too big", "x" * 150_000))
            assert "552" in str(too_big.value) or getattr(too_big.value, "smtp_code", 0) == 552
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            for number in (1, 2):
                client.sendmail("s@acme.test", [to], plain_email(to, f"Kept {number}", "y" * 90_000))
            with pytest.raises(smtplib.SMTPDataError) as full:
                client.sendmail("s@acme.test", [to], plain_email(to, "Deferred", "z" * 90_000))
        assert full.value.smtp_code == 452
        assert sorted(m.subject for m in inbox.messages_for("fwcap0000001")) == ["Kept 1", "Kept 2"]
    finally:
        inbox.close()


def test_maildir_skips_oversized_files_fifos_and_devices_unopened(tmp_path):
    from funnelwatch.inbox.maildir import MaildirInbox, deliver
    from tests.fixtures.emails import plain_email

    to = "qa+fwcap0000002@example.com"
    deliver(tmp_path, plain_email(to, "Small and fine", "hello"))
    (tmp_path / "new" / "huge.eml").write_bytes(plain_email(to, "Huge", "x" * 300_000))
    os.mkfifo(tmp_path / "new" / "a-fifo")
    os.symlink("/dev/zero", tmp_path / "new" / "zeros")
    inbox = MaildirInbox(tmp_path, max_message_bytes=200_000)
    began = time.monotonic()
    assert [m.subject for m in inbox.messages_for("fwcap0000002")] == ["Small and fine"]
    assert time.monotonic() - began < 5


def test_maildir_junk_subfolders_skip_oversized_files_fifos_and_devices_unopened(tmp_path):
    from funnelwatch.inbox.maildir import MaildirInbox, deliver
    from tests.fixtures.emails import plain_email

    to = "qa+fwcap0000003@example.com"
    deliver(tmp_path, plain_email(to, "Small in junk", "hello"), folder="Junk")
    junk = tmp_path / ".Junk" / "new"
    (junk / "huge.eml").write_bytes(plain_email(to, "Huge in junk", "x" * 300_000))
    os.mkfifo(junk / "a-fifo")
    os.symlink("/dev/zero", junk / "zeros")
    inbox = MaildirInbox(tmp_path, max_message_bytes=200_000)
    began = time.monotonic()
    (found,) = inbox.messages_for("fwcap0000003")
    assert time.monotonic() - began < 5
    assert (found.subject, found.folder, found.in_junk) == ("Small in junk", "Junk", True)


# --- partial downloads: a per-run folder the next run cleans -------------------------------------------


def test_partial_downloads_of_a_killed_run_are_removed_by_the_next_run(project, site, drip_server):
    from funnelwatch.scratch import home_for

    with_neighbour(project, site, drip_download_check(site, drip_server.url("/hubfs/guide.pdf")))
    project.config(FAST_CONFIG.replace("timeout: 8s", "timeout: 20s"))
    home = home_for(project.load().database_path)

    def partial() -> list[Path]:
        return sorted(home.glob("run-*/funnelwatch-asset-*")) if home.is_dir() else []

    process = start_killable_run(project)
    kill_run_when(process, lambda: bool(partial()), "a partial download")
    left = partial()
    assert left, "the killed run's partial download should still be there"
    assert all(oct(path.parent.stat().st_mode)[-3:] == "700" for path in left)

    drip_server.stop()
    project.check("faulty", f"name: Faulty\nlanding:\n  url: {site.url('/lp/neighbour')}\n")
    project.run(report=False)
    assert not any(path.exists() for path in left)
    assert not partial() and not list(home.glob("run-*"))  # this run's own folder went with it


# --- a full disk: keep what fits, mark the run, one line; artifacts never crowd out the history ---------


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 16 MB filesystem (tmpfs) for the history and the reports; skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        why = f"cannot mount a small tmpfs here ({done.stderr.strip() or 'mount failed'}); run as root to test a full disk"
        # CI runs as root, where mounting works: there a failed mount is a broken machine, not a reason to skip.
        if os.geteuid() == 0:
            missing(why)
        pytest.skip(why)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk holding `folder` is full (what a runaway log does)."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def tiny_disk_project(project, tiny_disk: Path) -> None:
    project.config(FAST_CONFIG.replace("database: reports/history.db", f"database: {tiny_disk}/history.db")
                   .replace("reports_dir: reports", f"reports_dir: {tiny_disk}/reports")
                   .replace("concurrency: 2", "concurrency: 1"))


def test_disk_full_mid_run_keeps_what_fits_marks_the_run_incomplete_and_says_so_in_one_line(project, site, tiny_disk):
    from funnelwatch.demo.server import Response

    tiny_disk_project(project, tiny_disk)
    filled: list[Path] = []

    def fill_then_answer(request):
        filled.append(fill(tiny_disk))
        return Response(200, "<title>Filler</title><h1>Filler</h1>")

    site.page("/lp/first", "<title>First</title><h1>First</h1>")
    site.route("/lp/fill", fill_then_answer)
    project.check("a-first", f"name: A First\nlanding:\n  url: {site.url('/lp/first')}\n")
    project.check("b-filler", f"name: B Filler\nlanding:\n  url: {site.url('/lp/fill')}\n")
    project.check("c-last", f"name: C Last\nlanding:\n  url: {site.url('/lp/missing')}\n")
    done = cli_run(project, "--json")
    assert filled, "the disk was never filled"
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "is full" in line]
    assert str(tiny_disk) in line and "history.db" in line and "incomplete" in line, line
    kept = int(re.search(r"(\d+) of 3 results were kept", line).group(1))
    shown = json.loads(done.stdout)
    assert shown["incomplete"] is True
    assert {r["check"]: r["status"] for r in shown["results"]} == {"A First": "pass", "B Filler": "pass", "C Last": "fail"}
    assert not list(tiny_disk.rglob("*.png")) and not list(tiny_disk.rglob("*-trace.zip"))  # skipped first

    filled[0].unlink()
    store = Store(project.load().database_path)
    try:
        assert store.run(shown["run_id"])["state"] == "incomplete"
        stored = [r.check for r in store.results_for_run(shown["run_id"])]
        assert "A First" in stored and len(stored) == kept
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
    site.route("/lp/fill", lambda request: Response(200, "<title>Filler</title><h1>Filler</h1>"))
    assert project.run(report=False).exit_code == 1  # room again: the next run works as ever
    print(line)


def test_a_disk_low_on_space_skips_screenshots_and_traces_and_keeps_the_result(project, site, tiny_disk):
    tiny_disk_project(project, tiny_disk)
    project.check("broken", f"name: Broken\nlanding:\n  url: {site.url('/lp/missing')}\n")
    result = project.run_one(report=False)
    assert (result.status, result.step) == (Status.FAIL, "landing")
    assert result.artifacts == {} and not list(tiny_disk.rglob("*.png")) and not list(tiny_disk.rglob("*-trace.zip"))
    assert "screenshot and trace not kept" in result.evidence["artifacts_skipped"]
    store = Store(project.load().database_path)
    try:
        (stored,) = store.history("Broken")
        assert stored.status is Status.FAIL and stored.evidence["artifacts_skipped"] == result.evidence["artifacts_skipped"]
    finally:
        store.close()
