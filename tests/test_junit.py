"""`--junit FILE`: results as JUnit XML that CI systems read (parsed with junitparser)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from junitparser import Error, Failure, JUnitXml, Skipped

from funnelwatch.cli import cli
from funnelwatch.junit import write_junit
from funnelwatch.results import Category, CheckResult, RunResult, Status

HOSTILE = "<script>alert(1)</script> & \x07bell ]]> \"quoted\""


def _outcome() -> RunResult:
    results = [
        CheckResult("Pricing page", "checks/pricing.yaml", Status.PASS, duration_s=2.5),
        CheckResult("HIPAA checklist", "checks/hipaa.yaml", Status.FAIL, step="asset", category=Category.WRONG_ASSET,
                    reason="the PDF behind 'Download' is titled 'GDPR Readiness Guide'", duration_s=14.2, attempts=2,
                    artifacts={"screenshot": "artifacts/3/hipaa-desktop-attempt2.png"}, report="reports/funnels/hipaa.html"),
        CheckResult("HIPAA checklist", "checks/hipaa.yaml", Status.PASS, viewport="mobile", duration_s=12.0),
        CheckResult("Homepage", "checks/home.yaml", Status.FLAKY, step="landing", category=Category.SLOW_PAGE,
                    reason="the page took 7.2s to load", attempts=2, duration_s=9.0),
        CheckResult("Demo request", "checks/demo.yaml", Status.PENDING, duration_s=4.0),
        CheckResult("Demo request", "checks/demo.yaml", Status.FAIL, step="followup", category=Category.LATE_FOLLOWUP,
                    reason="the first human reply came after 1d 2h (SLA 1d)", latency_s=93600.0),
        CheckResult("Cloud ebook", "checks/cloud.yaml", Status.ERROR, step="asset", category=Category.INBOX,
                    reason="the inbox did not answer", duration_s=1.0),
        CheckResult(HOSTILE, "checks/hostile.yaml", Status.FAIL, step="landing", category=Category.TEXT_MISSING,
                    reason=HOSTILE, duration_s=1.0),
    ]
    return RunResult(run_id=7, started_at="2026-11-22T02:00:00Z", finished_at="2026-11-22T02:03:10Z", results=results)


def _cases(path: Path) -> dict[str, object]:
    xml = JUnitXml.fromfile(str(path))
    return {case.name: case for suite in xml for case in suite}


def test_one_testcase_per_check_and_viewport_with_counts(tmp_path):
    path = tmp_path / "out" / "junit.xml"
    write_junit(_outcome(), path)
    xml = JUnitXml.fromfile(str(path))
    suite = next(iter(xml))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (8, 3, 1, 1)
    names = list(_cases(path))
    assert "HIPAA checklist [desktop]" in names and "HIPAA checklist [mobile]" in names
    assert "Demo request [desktop] follow-up" in names and "Demo request [desktop]" in names


def test_broken_funnel_is_a_failure_naming_step_category_and_reason(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(_outcome(), path)
    case = _cases(path)["HIPAA checklist [desktop]"]
    assert case.classname == "checks.hipaa"
    assert abs(case.time - 14.2) < 0.01
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert failure.type == "wrong_asset"
    assert failure.message == "Delivery email and asset: wrong asset delivered — the PDF behind 'Download' is titled 'GDPR Readiness Guide'"
    assert "step: asset" in failure.text and "category: wrong_asset" in failure.text
    assert "screenshot: artifacts/3/hipaa-desktop-attempt2.png" in failure.text


def test_monitor_problem_is_an_error_pending_is_skipped_flaky_passes(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(_outcome(), path)
    cases = _cases(path)
    assert isinstance(cases["Cloud ebook [desktop]"].result[0], Error)
    assert cases["Cloud ebook [desktop]"].result[0].type == "inbox"
    assert isinstance(cases["Demo request [desktop]"].result[0], Skipped)
    flaky = cases["Homepage [desktop]"]
    assert flaky.is_passed and "failed first" in flaky.system_out
    assert cases["Pricing page [desktop]"].is_passed
    late = cases["Demo request [desktop] follow-up"].result[0]
    assert late.type == "late_followup" and "latency_s: 93600.0" in late.text


def test_hostile_text_stays_well_formed_xml(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(_outcome(), path)
    cases = _cases(path)
    (name,) = [n for n in cases if n.startswith("<script>")]
    failure = cases[name].result[0]
    assert "<script>alert(1)</script> &" in failure.message and "\x07" not in failure.message


def test_run_junit_flag_writes_the_file(project, site, tmp_path):
    site.page("/lp/ok", "<title>Fine</title><h1>Free checklist</h1>")
    site.page("/lp/bad", "<title>Oops</title><h1>Offer expired</h1>")
    project.check("ok", f"name: Fine page\nlanding: {{url: '{site.url('/lp/ok')}', must_show: [Free checklist]}}\n")
    project.check("bad", f"name: Expired offer\nlanding: {{url: '{site.url('/lp/bad')}', must_show: [Free checklist]}}\n")
    target = tmp_path / "ci" / "junit.xml"
    outcome = CliRunner().invoke(cli, ["-C", str(project.root), "run", "--junit", str(target)])
    assert outcome.exit_code == 1, outcome.output
    cases = _cases(target)
    assert cases["Fine page [desktop]"].is_passed
    failure = cases["Expired offer [desktop]"].result[0]
    assert isinstance(failure, Failure) and failure.type == "text_missing"
    assert "Free checklist" in failure.message
