"""JUnit XML for CI systems: one testcase per check and viewport."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .redaction import redact
from .results import RunResult, Status


def write_junit(outcome: RunResult, path: str | Path) -> None:
    results = outcome.results
    suite = ET.Element(
        "testsuite",
        name="funnelwatch",
        tests=str(len(results)),
        failures=str(sum(r.status is Status.FAIL for r in results)),
        errors=str(sum(r.status is Status.ERROR for r in results)),
        skipped=str(sum(r.status is Status.PENDING for r in results)),
        time=f"{sum(r.duration_s for r in results):.3f}",
        timestamp=outcome.started_at,
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=result.file.replace("/", ".").removesuffix(".yaml"),
            name=f"{result.check} [{result.viewport}]", time=f"{result.duration_s:.3f}",
        )
        detail = redact(f"{result.step}: {result.category.value if result.category else ''}: {result.reason}")
        if result.status is Status.FAIL:
            ET.SubElement(case, "failure", message=redact(result.reason or ""), type=result.category.value if result.category else "fail").text = detail
        elif result.status is Status.ERROR:
            ET.SubElement(case, "error", message=redact(result.reason or ""), type=result.category.value if result.category else "error").text = detail
        elif result.status is Status.PENDING:
            ET.SubElement(case, "skipped", message="follow-up pending")
        elif result.status is Status.FLAKY:
            ET.SubElement(case, "system-out").text = f"flaky: failed first ({detail}), passed on retry"
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.ElementTree(suites).write(str(path), encoding="utf-8", xml_declaration=True)
