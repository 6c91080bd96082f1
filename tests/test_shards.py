"""`run --shard K/N`: N runners split the checks by a stable hash of each file's name, every check exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

import funnelwatch
from funnelwatch import Shard, Status
from funnelwatch.clock import FixedClock
from funnelwatch.errors import FunnelwatchError
from funnelwatch.plan import make_plan
from funnelwatch.results import Category
from funnelwatch.shards import choose, shard_of
from funnelwatch.store import Store, open_store
from tests.fixtures.projects import BASE_CONFIG
from tests.fixtures.sales import demo_check

FUNNELWATCH = [sys.executable, "-m", "funnelwatch"]
SCHEMA = json.loads((Path(funnelwatch.__file__).parent / "schemas" / "run-output.schema.json").read_text())

#: Six files, three in each of two shards (sha256 of the file name: see test_the_slice_is_a_sha256_of_the_file_name).
SHARD_1_OF_2 = ("pricing", "webinar", "contact")
SHARD_2_OF_2 = ("hipaa", "demo", "ebook")


def cli(project, *args, env=None, timeout=120):
    full_env = {k: v for k, v in os.environ.items() if k not in ("FUNNELWATCH_SHARD", "JOB_COMPLETION_INDEX")}
    return subprocess.run([*FUNNELWATCH, "-C", str(project.root), *args], capture_output=True, text=True, timeout=timeout,
                          env={**full_env, **(env or {})})


def six_checks(project, site) -> None:
    """Quick landing checks on the local site: `pricing` is a 404 (fail), `webinar` misses its text (fail), the rest pass."""
    for name in SHARD_1_OF_2 + SHARD_2_OF_2:
        site.page(f"/lp/shard-{name}", f"<title>{name}</title><h1>{name} offer</h1>")
    for name in SHARD_1_OF_2 + SHARD_2_OF_2:
        path = "/lp/shard-missing" if name == "pricing" else f"/lp/shard-{name}"
        text = "Not on the page" if name == "webinar" else f"{name} offer"
        project.check(name, f"""
            name: {name.title()} funnel
            tags: [{'paid' if name in ('pricing', 'hipaa') else 'organic'}]
            landing:
              url: {site.url(path)}
              must_show: [{text}]
        """)


def verdicts(outcome) -> dict[str, tuple[str, str | None, str | None]]:
    return {r.check: (r.status.value, r.step, r.category.value if r.category else None) for r in outcome.results}


def test_the_slice_is_a_sha256_of_the_file_name():
    """Golden values: Python's hash() (salted per process) or a listing position would change them."""
    assert [shard_of(f"{name}.yaml", 2) for name in SHARD_1_OF_2] == [1, 1, 1]
    assert [shard_of(f"{name}.yaml", 2) for name in SHARD_2_OF_2] == [2, 2, 2]
    assert [shard_of(f"{name}.yaml", 4) for name in ("hipaa", "demo", "pricing", "webinar")] == [2, 4, 3, 1]
    # the file's name inside the checks folder: the same wherever the project is checked out
    assert shard_of("checks/hipaa.yaml", 4) == shard_of("/srv/agency/checks/hipaa.yaml", 4) == shard_of("hipaa.yaml", 4)


def test_two_shards_run_every_check_exactly_once_with_the_results_of_one_run(project, site):
    six_checks(project, site)
    whole = project.run(report=False)
    first = project.run(report=False, shard=Shard(1, 2))
    second = project.run(report=False, shard=Shard(2, 2))
    assert sorted(verdicts(first)) == sorted(f"{n.title()} funnel" for n in SHARD_1_OF_2)
    assert sorted(verdicts(second)) == sorted(f"{n.title()} funnel" for n in SHARD_2_OF_2)
    assert {**verdicts(first), **verdicts(second)} == verdicts(whole)
    assert verdicts(whole)["Pricing funnel"] == ("fail", "landing", "http_status")
    assert verdicts(whole)["Webinar funnel"] == ("fail", "landing", "text_missing")
    assert (first.exit_code, second.exit_code, whole.exit_code) == (1, 0, 1)
    assert (first.shard, second.shard, whole.shard) == ("1/2", "2/2", None)


def test_a_check_keeps_its_shard_when_other_files_are_added_or_renamed(project, site):
    six_checks(project, site)
    before = {i.check.name for i in make_plan(project.load(), shard=Shard(2, 2)).items}
    (project.root / "checks" / "pricing.yaml").rename(project.root / "checks" / "pricing-2027.yaml")
    for n in range(5):
        project.check(f"extra-{n}", f"name: Extra {n}\nlanding:\n  url: {site.url('/lp/shard-demo')}\n")
    after = make_plan(project.load(), shard=Shard(2, 2))
    assert before <= {i.check.name for i in after.items}
    assert after.selection == "all checks, shard 2/2"


def test_the_slice_is_the_same_in_every_process(project, site):
    """PYTHONHASHSEED differs between processes (and machines): the listing of a shard does not."""
    six_checks(project, site)
    listings = [cli(project, "run", "--list", "--shard", "1/2", env={"PYTHONHASHSEED": seed}) for seed in ("1", "2", "random")]
    assert all(done.returncode == 0 for done in listings), listings[0].stderr
    assert len({done.stdout for done in listings}) == 1
    assert "plan for all checks, shard 1/2 (nothing is run, no browser starts):" in listings[0].stdout
    assert sorted(line.split()[0] for line in listings[0].stdout.splitlines()[1:-1]) == sorted(n.title() for n in SHARD_1_OF_2)
    assert listings[0].stdout.splitlines()[-1] == "3 runs of 3 checks"


def test_job_completion_index_and_funnelwatch_shard_select_the_same_slice_as_shard(project, site):
    six_checks(project, site)
    by_option = cli(project, "run", "--list", "--shard", "2/2")
    by_env = cli(project, "run", "--list", env={"FUNNELWATCH_SHARD": "2/2"})
    by_index = cli(project, "run", "--list", "--shards", "2", env={"JOB_COMPLETION_INDEX": "1"})
    assert by_option.returncode == by_env.returncode == by_index.returncode == 0, by_index.stderr
    assert by_option.stdout == by_env.stdout == by_index.stdout
    assert "Hipaa funnel" in by_option.stdout and "Pricing funnel" not in by_option.stdout
    # --shard wins over the environment (a one-off run on a host whose env file names its shard)
    assert cli(project, "run", "--list", "--shard", "2/2", env={"FUNNELWATCH_SHARD": "1/2"}).stdout == by_option.stdout


BAD_SHARDS = [
    ("0/2", None, {}, "--shard '0/2': K must be 1 to 2 in K/N (shards count from 1: --shard 1/2 … --shard 2/2)"),
    ("3/2", None, {}, "--shard '3/2': K must be 1 to 2 in K/N"),
    ("1/0", None, {}, "--shard '1/0': the number of shards must be 1 to 1000"),
    ("half", None, {}, "--shard 'half': write the shard as K/N, e.g. 1/4 for the first of four shards"),
    ("1/2/3", None, {}, "--shard '1/2/3': write the shard as K/N"),
    (None, None, {"FUNNELWATCH_SHARD": "2-of-4"}, "FUNNELWATCH_SHARD '2-of-4': write the shard as K/N"),
    (None, 4, {}, "--shards 4 takes this runner's index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job sets it), "
                  "which is not set — outside Kubernetes use --shard K/4"),
    (None, 4, {"JOB_COMPLETION_INDEX": "4"}, "JOB_COMPLETION_INDEX=4 with --shards 4: the index must be 0 to 3"),
    (None, 4, {"JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX='x': expected the 0-based index"),
    (None, 0, {"JOB_COMPLETION_INDEX": "0"}, "--shards 0: the number of shards must be 1 to 1000"),
    ("1/2", 3, {}, "--shard 1/2 and --shards 3 disagree on the number of shards — give one of them"),
]


@pytest.mark.parametrize(("shard", "shards", "env", "message"), BAD_SHARDS)
def test_a_bad_shard_says_what_to_write(shard, shards, env, message):
    with pytest.raises(FunnelwatchError) as raised:
        choose(shard, shards, env)
    assert str(raised.value).startswith(message)
    assert raised.value.exit_code == 2


def test_a_bad_shard_is_exit_2_on_the_command_line_and_nothing_runs(project, site):
    six_checks(project, site)
    hits = len(site.hits("/lp/shard-hipaa"))
    for args, env, message in ((["--shard", "3/2"], {}, BAD_SHARDS[1][3]), (["--shards", "4"], {"JOB_COMPLETION_INDEX": "4"}, BAD_SHARDS[7][3]),
                               ([], {"FUNNELWATCH_SHARD": "2-of-4"}, BAD_SHARDS[5][3])):
        done = cli(project, "run", *args, env=env)
        assert done.returncode == 2, done.stderr
        assert f"funnelwatch: {message}" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (project.root / "reports" / "history.db").exists()
    assert len(site.hits("/lp/shard-hipaa")) == hits


def test_the_python_api_rejects_a_bad_shard_as_a_user_error():
    with pytest.raises(FunnelwatchError, match=r"K must be 1 to 2"):
        Shard(3, 2)
    assert choose(None, None, {}) is None
    assert choose(None, 4, {"JOB_COMPLETION_INDEX": "0"}) == Shard(1, 4)
    assert choose(" ", None, {"FUNNELWATCH_SHARD": " 3 / 4 "}) == Shard(3, 4)


def test_json_junit_and_exit_code_cover_only_the_shards_checks(project, site, tmp_path):
    six_checks(project, site)
    junit = tmp_path / "shard.xml"
    done = cli(project, "run", "--shard", "2/2", "--json", "--junit", str(junit))
    assert done.returncode == 0, done.stderr  # the failing checks are shard 1's
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["shard"] == "2/2"
    assert sorted(r["file"] for r in doc["results"]) == sorted(f"checks/{n}.yaml" for n in SHARD_2_OF_2)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("name")) == ("3", "funnelwatch shard 2/2")
    other = cli(project, "run", "--shard", "1/2")
    assert other.returncode == 1
    assert "(shard 1/2): 2 fail, 1 pass" in other.stderr


def test_check_and_tag_select_first_then_the_shard_cuts(project, site):
    six_checks(project, site)
    config = project.load()
    paid = [make_plan(config, tags=["paid"], shard=Shard(k, 2)) for k in (1, 2)]
    assert [[i.check.name for i in plan.items] for plan in paid] == [["Pricing funnel"], ["Hipaa funnel"]]
    assert paid[0].selection == "tag paid, shard 1/2"
    # a check another shard owns: nothing to run here, not an error (a CI matrix leg may get none)
    assert make_plan(config, names=["hipaa"], shard=Shard(1, 2)).items == []
    with pytest.raises(FunnelwatchError, match="no check named 'hipa'"):  # a typo is a typo on every shard
        make_plan(config, names=["hipa"], shard=Shard(1, 2))


def test_an_invalid_check_file_is_reported_by_its_own_shard_only(project, site):
    six_checks(project, site)
    project.check("hipaa", "name: Hipaa funnel\nlanding:\n  ulr: nowhere\n")
    first, second = (make_plan(project.load(), shard=Shard(k, 2)) for k in (1, 2))
    assert first.broken == [] and [b.file for b in second.broken] == ["checks/hipaa.yaml"]


# --- two shards at once on one database -------------------------------------------


def start(project, *args) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("FUNNELWATCH_SHARD", "JOB_COMPLETION_INDEX")}
    return subprocess.Popen([*FUNNELWATCH, "-C", str(project.root), "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for_hit(site, path: str, process: subprocess.Popen, seen: int = 0) -> None:
    deadline = time.monotonic() + 90
    while len(site.hits(path)) <= seen:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"the run never reached {path}"
        time.sleep(0.05)


def stored(project) -> tuple[list[dict], list[dict]]:
    """(runs oldest first, check results oldest first) as the history holds them (either engine)."""
    store = open_store(project.load().database)
    try:
        runs = list(reversed(store.runs()))
        results = [row for run in runs for row in store.db.query(
            "select run_id, check_name, status, step, category from results where run_id = ? and kind = 'check' order by id",
            [run["id"]])]
        return runs, results
    finally:
        store.close()


def on_database(project, database: str) -> None:
    """The project's history is `database`: a SQLite file, or a PostgreSQL URL (the `database` fixture)."""
    project.config(BASE_CONFIG.replace("database: reports/history.db", f"database: {database}"))


def test_two_shard_processes_at_once_on_one_database_match_a_single_run(project, site, database):
    on_database(project, database)
    six_checks(project, site)
    site.page("/lp/shard-webinar", "<title>webinar</title><h1>webinar offer</h1>", delay_s=3)  # both shards busy at once
    site.page("/lp/shard-hipaa", "<title>hipaa</title><h1>hipaa offer</h1>", delay_s=3)
    single = cli(project, "run", "--json")
    assert single.returncode == 1, single.stderr
    alone = {r["check"]: (r["status"], r["step"], r["category"]) for r in json.loads(single.stdout)["results"]}
    first, second = start(project, "--shard", "1/2", "--json"), start(project, "--shard", "2/2", "--json")
    (out1, err1), (out2, err2) = first.communicate(timeout=180), second.communicate(timeout=180)
    assert (first.returncode, second.returncode) == (1, 0), err1 + err2
    assert "database is locked" not in err1 + err2
    sharded = {r["check"]: (r["status"], r["step"], r["category"])
               for out in (out1, out2) for r in json.loads(out)["results"]}
    assert sharded == alone
    runs, results = stored(project)
    assert [r["state"] for r in runs] == ["complete", "complete", "complete"]
    assert [r["selection"] for r in runs[1:]] in (["all checks, shard 1/2", "all checks, shard 2/2"],
                                                 ["all checks, shard 2/2", "all checks, shard 1/2"])
    assert [r["shard"] for r in runs] in ([None, "1/2", "2/2"], [None, "2/2", "1/2"]), "runs.shard says which shard ran"
    assert max(runs[1]["started_at"], runs[2]["started_at"]) < min(runs[1]["finished_at"], runs[2]["finished_at"]), \
        "the two shards ran one after the other, not at once"
    in_shards = [(r["check_name"], r["status"], r["step"], r["category"]) for r in results if r["run_id"] != runs[0]["id"]]
    assert sorted(c for c, *_ in in_shards) == sorted(alone), "every check exactly once over the two shards"
    assert {c: tuple(v) for c, *v in in_shards} == alone


def test_an_unsharded_run_does_not_start_beside_a_running_shard(project, site):
    six_checks(project, site)
    site.page("/lp/shard-hipaa", "<title>hipaa</title><h1>hipaa offer</h1>", delay_s=8)
    seen = len(site.hits("/lp/shard-hipaa"))
    shard = start(project, "--shard", "2/2")
    wait_for_hit(site, "/lp/shard-hipaa", shard, seen)
    whole, same_shard = start(project), start(project, "--shard", "2/2")
    (_, whole_err), (_, same_err) = whole.communicate(timeout=120), same_shard.communicate(timeout=120)
    shard.communicate(timeout=120)
    assert (whole.returncode, same_shard.returncode, shard.returncode) == (2, 2, 0)
    assert "funnelwatch: another funnelwatch run is using history.db — this run exits without checking" in whole_err
    assert f"funnelwatch: another funnelwatch run of shard 2/2 (pid {shard.pid}, started " in same_err
    runs, _ = stored(project)
    assert [r["state"] for r in runs] == ["complete"]


def test_killing_one_shard_loses_nothing_of_the_other_and_its_run_is_incomplete(project, site, database):
    on_database(project, database)
    six_checks(project, site)
    site.page("/lp/shard-webinar", "<title>webinar</title><h1>webinar offer</h1>", delay_s=8)  # shard 1's slow check
    seen = len(site.hits("/lp/shard-webinar"))
    doomed, survivor = start(project, "--shard", "1/2"), start(project, "--shard", "2/2", "--json")
    wait_for_hit(site, "/lp/shard-webinar", doomed, seen)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=30)
    out, err = survivor.communicate(timeout=180)
    assert survivor.returncode == 0, err
    assert sorted(r["check"] for r in json.loads(out)["results"]) == sorted(f"{n.title()} funnel" for n in SHARD_2_OF_2)
    runs, results = stored(project)  # opening the history marks the dead shard's run
    by_selection = {r["selection"]: r for r in runs}
    assert by_selection["all checks, shard 1/2"]["state"] == "incomplete"
    assert by_selection["all checks, shard 2/2"]["state"] == "complete"
    kept = {r["check_name"]: (r["status"], r["step"], r["category"]) for r in results
            if r["run_id"] == by_selection["all checks, shard 2/2"]["id"]}
    assert kept == {"Hipaa funnel": ("pass", None, None), "Demo funnel": ("pass", None, None), "Ebook funnel": ("pass", None, None)}
    again = cli(project, "run", "--shard", "1/2")  # the killed shard's lock went with its process
    assert again.returncode == 1, again.stderr


# --- follow-up probes belong to their check's shard ------------------------------------


def test_a_followup_probe_is_settled_only_by_the_shard_that_owns_its_check(project, site, sales):
    assert shard_of("demo.yaml", 2) == 2
    project.check("demo", demo_check(site))
    sent = project.run_one(report=False, shard=Shard(2, 2))
    assert sent.status is Status.PENDING, sent.reason
    t0 = sales.submissions[-1][0]
    sales.send(sales.last_address, "Re: your demo request", t0 + 900, sales.reply_from)
    project.clock = FixedClock(t0 + 1200)
    assert project.run(settle_only=True, report=False, shard=Shard(1, 2)).results == []
    assert project.run(report=False, shard=Shard(1, 2)).results == []  # nothing of shard 1's own, and no probe of its
    assert [p.check_name for p in open_probes(project)] == ["Demo request"]
    [settled] = project.run(settle_only=True, report=False, shard=Shard(2, 2)).results
    assert (settled.status, settled.step, settled.check) == (Status.PASS, "followup", "Demo request")
    assert open_probes(project) == []


def test_a_probe_whose_check_file_is_gone_goes_by_the_file_it_was_sent_from(project, site, sales):
    project.check("demo", demo_check(site))
    assert project.run_one(report=False).status is Status.PENDING
    (project.root / "checks" / "demo.yaml").unlink()
    t0 = sales.submissions[-1][0]
    project.clock = FixedClock(t0 + 7200)  # past the SLA: an owner would report it missing
    assert project.run(settle_only=True, report=False, shard=Shard(1, 2)).results == []
    [missing] = project.run(settle_only=True, report=False, shard=Shard(2, 2)).results
    assert (missing.status, missing.step, missing.category) == (Status.FAIL, "followup", Category.MISSING_FOLLOWUP)


def open_probes(project) -> list:
    store = Store(project.load().database_path)
    try:
        return store.ledger.open_probes()
    finally:
        store.close()


# --- alerts and heartbeat: per shard, or one message at report time ------------------------


def alerting_project(project, site, receiver, extra: str = "") -> None:
    """`pricing` (shard 1/2) is broken, `hipaa` (shard 2/2) works; a real Apprise channel and heartbeat."""
    project.config(f"""\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 10s
defaults:
  retries: 0
alerts:
  - url: {receiver.apprise_url('/hook/shards')}
heartbeat: {receiver.http_url('/ping/{shard}')}?status={{status}}
{extra}""")
    site.page("/lp/shard-hipaa", "<title>hipaa</title><h1>hipaa offer</h1>")
    site.routes.pop("/lp/shard-missing", None)
    for name, path in (("pricing", "/lp/shard-missing"), ("hipaa", "/lp/shard-hipaa")):
        project.check(name, f"name: {name.title()} funnel\nlanding:\n  url: {site.url(path)}\n")


def test_a_shards_alerts_and_heartbeat_say_which_shard_they_are(project, site, receiver):
    alerting_project(project, site, receiver)
    broken = project.run(alerts=True, report=False, shard=Shard(1, 2))
    assert broken.problems == []
    [message] = receiver.wait_for(1)
    assert message["title"] == "funnelwatch (shard 1/2): 1 funnel broken"
    assert f"Run {broken.run_id} (shard 1/2) at " in message["message"]
    assert "Pricing funnel" in message["message"] and "Hipaa" not in message["message"]
    project.run(alerts=True, report=False, shard=Shard(2, 2))
    project.run(alerts=True, report=False)
    assert receiver.pings == ["/ping/1-of-2?status=up", "/ping/2-of-2?status=up", "/ping/all?status=up"]
    assert len(receiver.wait_for(2, timeout_s=0.5)) == 1, "pricing is still broken: the unsharded run repeats nothing"


def test_at_report_the_shards_hold_their_alerts_and_report_sends_one_message(project, site, receiver):
    alerting_project(project, site, receiver, "shard_alerts: at_report\n")
    for k in (1, 2):
        assert project.run(alerts=True, report=False, shard=Shard(k, 2)).problems == []
    assert receiver.wait_for(1, timeout_s=0.5) == []  # held
    assert receiver.pings == ["/ping/1-of-2?status=up", "/ping/2-of-2?status=up"]  # the heartbeat is still each shard's
    done = cli(project, "report")
    assert done.returncode == 0, done.stderr
    [message] = receiver.wait_for(1)
    assert message["title"] == "funnelwatch (2 shard runs of 2 shards): 1 funnel broken"
    assert "Pricing funnel" in message["message"]
    assert cli(project, "report").returncode == 0
    assert len(receiver.wait_for(2, timeout_s=0.5)) == 1, "a second report says nothing again"
    site.page("/lp/shard-missing", "<title>pricing</title><h1>pricing offer</h1>")  # fixed
    for k in (1, 2):
        project.run(alerts=True, report=False, shard=Shard(k, 2))
    assert cli(project, "report").returncode == 0
    messages = receiver.wait_for(2)
    assert [m["title"] for m in messages] == ["funnelwatch (2 shard runs of 2 shards): 1 funnel broken",
                                              "funnelwatch (2 shard runs of 2 shards): 1 funnel recovered"]


def test_per_shard_is_the_default_and_report_sends_nothing(project, site, receiver):
    alerting_project(project, site, receiver)
    project.run(alerts=True, report=False, shard=Shard(1, 2))
    assert len(receiver.wait_for(1)) == 1
    assert cli(project, "report").returncode == 0
    assert len(receiver.wait_for(2, timeout_s=0.5)) == 1


def test_the_specs_run_line_names_only_options_run_takes():
    from funnelwatch.cli import cli as group

    from .fixtures.spec import spec_text

    line = next(row for row in spec_text().splitlines() if row.startswith("| `funnelwatch run "))
    promised = set(re.findall(r"\[(--[a-z-]+)", line))
    assert "--shard" in promised
    taken = {opt for param in group.commands["run"].params for opt in param.opts}
    assert promised <= taken
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    ours = next(row for row in readme.splitlines() if row.startswith("| `funnelwatch run "))
    assert promised <= set(re.findall(r"\[(--[a-z-]+)", ours))


def test_the_weekly_digest_rides_on_shard_one_only(project, site, receiver):
    from datetime import datetime, timezone

    alerting_project(project, site, receiver, "report:\n  digest: weekly\n")
    project.clock = FixedClock(datetime(2026, 11, 30, 8, 30, tzinfo=timezone.utc).timestamp())  # Monday, after 08:00
    project.run(alerts=True, report=False, shard=Shard(2, 2))
    assert receiver.wait_for(1, timeout_s=0.5) == []  # hipaa works, and shard 2 sends no digest
    project.run(alerts=True, report=False, shard=Shard(1, 2))
    titles = [m["title"] for m in receiver.wait_for(2)]
    assert titles[0] == "funnelwatch (shard 1/2): 1 funnel broken"
    assert titles[1].startswith("funnelwatch: the last 7 days")


def test_held_shard_runs_are_told_by_runs_shard_and_older_rows_by_their_selection(database):
    from datetime import timedelta

    from funnelwatch.alerts.held import held_runs

    store = open_store(database)
    try:
        by_column, _ = store.begin_run("tag paid", shard="1/2")  # the column says it; the selection need not
        older, _ = store.begin_run("all checks, shard 2/2")  # stored before schema 9: no shard, its selection says it
        whole, _ = store.begin_run("all checks")
        for run_id in (by_column, older, whole):
            store.finish_run(run_id, 0)
        now = store.clock.now() + timedelta(minutes=1)
        assert [(r["id"], r["shard"]) for r in held_runs(store, now)] == [(by_column, "1/2"), (older, None)]
    finally:
        store.close()


def test_at_report_a_shard_still_running_is_left_for_the_next_report(project, site, receiver):
    from funnelwatch.alerts.held import send_held
    from funnelwatch.clock import iso, utcnow
    from funnelwatch.results import CheckResult

    alerting_project(project, site, receiver, "shard_alerts: at_report\n")
    config = project.load()
    store = Store(config.database_path)
    try:
        def broken(run_id: int, name: str) -> None:
            store.add_result(run_id, CheckResult(check=name, file=f"checks/{name}.yaml", status=Status.FAIL, step="landing",
                                                 category=Category.HTTP_STATUS, reason="HTTP 500", started_at=iso(utcnow())))

        alone, _ = store.begin_run("all checks")  # unsharded: it alerted for itself
        broken(alone, "unsharded")
        store.finish_run(alone, 1)
        first, _ = store.begin_run("all checks, shard 1/2")
        broken(first, "first")
        store.finish_run(first, 1)
        second, _ = store.begin_run("all checks, shard 2/2")  # still running (this process is alive)
        assert send_held(config, store, utcnow()) == []
        [message] = receiver.wait_for(1)
        assert message["title"] == "funnelwatch (1 shard run of 2 shards): 1 funnel broken"
        assert "first" in message["message"] and "unsharded" not in message["message"]
        broken(second, "second")
        store.finish_run(second, 1)
        assert send_held(config, store, utcnow()) == []
        messages = receiver.wait_for(2)
        assert len(messages) == 2 and "second" in messages[1]["message"] and "first" not in messages[1]["message"]
        assert send_held(config, store, utcnow()) == [] and len(receiver.wait_for(3, timeout_s=0.5)) == 2
    finally:
        store.close()


# --- scratch folders: two shards on one machine keep each other's -------------------------------


def test_two_shards_on_one_machine_keep_each_others_scratch_folders_and_clean_their_own(tmp_path):
    from funnelwatch.scratch import home_for, run_folder

    database = tmp_path / "history.db"
    killed_1 = run_folder(database, 1, "shard-1-of-2")
    running_2 = run_folder(database, 2, "shard-2-of-2")
    other_split = run_folder(database, 3, "shard-1-of-4")  # shard 1 of 4 may run beside shard 1 of 2
    assert killed_1 and running_2 and other_split
    for folder in (killed_1, running_2, other_split):
        (folder / "funnelwatch-asset-part").write_bytes(b"%PDF-1.7 half")
    again_1 = run_folder(database, 4, "shard-1-of-2")
    assert again_1 == home_for(database) / "shard-1-of-2-run-4"
    assert not killed_1.exists(), "an earlier run of the same shard is over: the shard's lock says so"
    assert (running_2 / "funnelwatch-asset-part").exists(), "the other shard is still downloading into it"
    assert (other_split / "funnelwatch-asset-part").exists()
    whole = run_folder(database, 5)  # an unsharded run holds the whole history's lock: no shard runs beside it
    assert whole == home_for(database) / "run-5"
    assert sorted(p.name for p in home_for(database).iterdir()) == ["run-5"]
