"""JUnit XML for CI systems (Jenkins, GitLab, GitHub Actions reporters).

One testcase per check and viewport (`HIPAA checklist [desktop]`, class name
from the check file), plus one per follow-up settled in the run
(`… [desktop] follow-up`). Mapping of statuses:

- fail → `<failure type="<category>" message="<step>: <label> — <reason>">`
- error → `<error>` (funnelwatch could not check; CI shows it apart from failures)
- pending → `<skipped>` (waiting inside the follow-up window)
- flaky → passes, with `<properties><property name="flaky" value="true"/>`
  and the first attempt's failure in `<system-out>`

    write_junit(run_result, "reports/junit.xml", config.redactor)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from .redaction import Redactor
from .results import CATEGORY_LABELS, CheckResult, RunResult, Status
from .steps import KINDS, title_of

# XML 1.0 cannot carry most control characters, even escaped; a page's text may contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _cleaner(redactor: Redactor) -> Callable[[object], str]:
    """Text as XML can carry it, with the config's secrets hidden."""
    def clean(text: object) -> str:
        return _NOT_XML.sub("\ufffd", redactor.redact(str(text)) if text is not None else "")
    return clean


def _settled_name(result: CheckResult) -> str:
    """The kind's name for a result a later run settled (a follow-up), else ''."""
    kind = KINDS.get(result.step or "")
    settled = kind is not None and kind.settles and result.status in (Status.PASS, Status.FAIL)
    return kind.settled_name if kind is not None and settled else ""


def _name(result: CheckResult) -> str:
    suffix = f" {_settled_name(result)}" if _settled_name(result) else ""
    return f"{result.check} [{result.viewport}]{suffix}"


def _summary(result: CheckResult) -> str:
    label = CATEGORY_LABELS.get(result.category, "") if result.category else ""
    parts = [p for p in (title_of(result.step), label) if p]
    head = ": ".join(parts)
    return f"{head} — {result.reason}" if head and result.reason else (result.reason or head or result.status.value)


def _detail(result: CheckResult) -> str:
    lines = [
        f"step: {result.step or '-'}",
        f"category: {result.category.value if result.category else '-'}",
        f"reason: {result.reason or '-'}",
        f"attempts: {result.attempts}",
    ]
    if result.latency_s is not None:
        lines.append(f"latency_s: {result.latency_s:.1f}")
    final_url = result.evidence.get("final_url") if isinstance(result.evidence, dict) else None
    if final_url:
        lines.append(f"final_url: {final_url}")
    for kind, path in sorted((result.artifacts or {}).items()):
        lines.append(f"{kind}: {path}")
    if result.report:
        lines.append(f"report: {result.report}")
    return "\n".join(lines)


def _case(suite: ET.Element, result: CheckResult, _clean: Callable[[object], str]) -> None:
    case = ET.SubElement(
        suite, "testcase",
        classname=_clean(result.file.replace("/", ".").removesuffix(".yaml").removesuffix(".yml")),
        name=_clean(_name(result)),
        time=f"{max(result.duration_s, 0.0):.3f}",
    )
    category = result.category.value if result.category else None
    if result.status is Status.FAIL:
        ET.SubElement(case, "failure", message=_clean(_summary(result)), type=category or "fail").text = _clean(_detail(result))
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", message=_clean(_summary(result)), type=category or "error").text = _clean(_detail(result))
    elif result.status is Status.PENDING:
        ET.SubElement(case, "skipped", message="follow-up pending: waiting for the first human reply within the SLA")
    elif result.status is Status.FLAKY:
        properties = ET.SubElement(case, "properties")
        ET.SubElement(properties, "property", name="flaky", value="true")
        ET.SubElement(case, "system-out").text = _clean(f"flaky: failed first, passed on retry\n{_detail(result)}")


def to_xml(outcome: RunResult, redactor: Redactor | None = None) -> ET.ElementTree:
    """The run's results as a `<testsuites>` tree (secrets hidden with the config's `redactor`)."""
    _clean = _cleaner(redactor if redactor is not None else Redactor())
    results = outcome.results
    counts = {
        "tests": str(len(results)),
        "failures": str(sum(r.status is Status.FAIL for r in results)),
        "errors": str(sum(r.status is Status.ERROR for r in results)),
        "skipped": str(sum(r.status is Status.PENDING for r in results)),
        "time": f"{sum(max(r.duration_s, 0.0) for r in results):.3f}",
    }
    suites = ET.Element("testsuites", {"name": "funnelwatch", **counts})
    name = f"funnelwatch shard {outcome.shard}" if outcome.shard else "funnelwatch"  # a CI matrix merges N of these
    suite = ET.SubElement(suites, "testsuite", {"name": name, "timestamp": outcome.started_at or "", "id": str(outcome.run_id), **counts})
    for result in results:
        _case(suite, result, _clean)
    if outcome.problems:
        ET.SubElement(suite, "system-err").text = _clean("\n".join(outcome.problems))
    return ET.ElementTree(suites)


def write_junit(outcome: RunResult, path: str | Path, redactor: Redactor | None = None) -> None:
    """Write JUnit XML to `path` (parent folders are created), secrets hidden with the config's `redactor`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tree = to_xml(outcome, redactor)
    ET.indent(tree)
    tree.write(str(target), encoding="utf-8", xml_declaration=True)
