"""`funnelwatch demo` end to end: the bundled site, inbox and checks, every breakage caught."""

from __future__ import annotations

import os
import subprocess
import sys

from funnelwatch.store import Store

EXPECTED = {
    "HIPAA checklist — Google Ads spring": ("pass", None),
    "Homepage": ("pass", None),
    "GDPR guide — Meta autumn": ("fail", "lost_param"),
    "Compliance Suite — pricing ad": ("fail", "message_mismatch"),
    "Summer sale 2025 — still running": ("fail", "http_status"),
    "Webinar registration": ("fail", "form_http_error"),
    "Cloud security e-book": ("fail", "wrong_asset"),
    "Ransomware report — newsletter": ("fail", "merge_tag"),
    "Zero Trust guide — email in Junk": ("fail", "email_in_spam"),
    "SOC 2 checklist — DKIM failure": ("fail", "email_auth_fail"),
    "Free trial — Google Ads": ("fail", "conversion_missing"),
}


def test_demo_catches_every_breakage_and_writes_the_report(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "funnelwatch", "demo", "--dir", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env={**os.environ, "FUNNELWATCH_DEMO_URL": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    index = tmp_path / "reports" / "index.html"
    assert f"report: {index}" in done.stderr
    assert index.exists()

    store = Store(tmp_path / "reports" / ".demo-project" / "data" / "history.db")
    try:
        latest = {r.check: r for r in store.latest() if r.step != "followup"}
        got = {name: (latest[name].status.value, latest[name].category.value if latest[name].category else None) for name in EXPECTED}
        assert got == EXPECTED
        assert "GDPR Readiness Guide" in latest["Cloud security e-book"].reason
        assert "$59" in latest["Compliance Suite — pricing ad"].reason
        replies = {r.check: r for r in store.latest() if r.step == "contact" and r.status.value != "pending"}
        assert (replies["sales@ answers"].status.value, replies["sales@ answers"].category) == ("pass", None)
        late = replies["support@ answers"]
        assert (late.status.value, late.category.value) == ("fail", "late_reply")
        assert late.reason.startswith("support@acme.test took ")
        assert latest["Zero Trust guide — email in Junk"].reason == "the delivery email arrived in Junk, not INBOX"
        assert "dkim=fail (signed by acme.test)" in latest["SOC 2 checklist — DKIM failure"].reason
        assert latest["HIPAA checklist — Google Ads spring"].evidence["asset"]["email"]["auth"]["dkim"] == "pass"
        assert "G-DEMO12345 sent page_view but no generate_lead" in latest["Free trial — Google Ads"].reason
        hipaa_tags = latest["HIPAA checklist — Google Ads spring"].evidence["tags"]
        assert {(t["event"], t["expected"]) for t in hipaa_tags} == {("page_view", ""), ("generate_lead", "✓")}
        assert {t["handling"] for t in hipaa_tags} == {"answered"}  # no demo lead reached analytics
    finally:
        store.close()
    html = index.read_text()
    assert "Cloud security e-book" in html and "http://" not in html.split("<body", 1)[0]
    channels = html.split("Response times by channel", 1)[1].split("</table>", 1)[0]
    assert "sales@acme.test" in channels and "support@acme.test" in channels and "demo form" in channels
