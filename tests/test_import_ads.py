"""`funnelwatch import-ads`: ads exports become valid ad checks, and nothing is overwritten by surprise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from funnelwatch.errors import FunnelwatchError
from funnelwatch.import_ads import import_ads, read_export

DATA = Path(__file__).parent / "data"
GOOGLE = DATA / "google-ads-editor-export.csv"
META = DATA / "meta-ads-manager-export.csv"


def cli(project, *args):
    return subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), *args],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_google_ads_editor_export_gives_one_check_per_unique_url_and_headline_set(project):
    written = import_ads(GOOGLE, project.root / "checks")
    assert [w.action for w in written] == ["wrote", "wrote"]
    config = project.load()
    assert not config.diagnostics, [str(d) for d in config.diagnostics]
    ads = {c.spec.ad.headline: c.spec.ad for c in config.checks}
    hipaa = ads["Free HIPAA Compliance Checklist"]
    assert hipaa.landing_url == "https://www.acme-health.example/lp/hipaa"
    assert "HIPAA Checklist 2026 Edition" in hipaa.promise
    assert hipaa.url.endswith("utm_campaign=spring_hipaa&utm_content=fw-test&gclid=FW-TEST")
    assert hipaa.keep_params == ["utm_source", "utm_medium", "utm_campaign", "utm_content", "gclid"]
    suite = ads["Acme Compliance Suite"]
    assert suite.url.startswith("https://track.acme-health.example/click?c=fw-test&u=https%3A%2F%2Fwww.acme-health.example%2Fpricing")
    assert "From $49/month" in suite.promise and "14-Day Free Trial" in suite.promise


def test_meta_ads_manager_export_uses_link_headline_and_url_parameters(project):
    import_ads(META, project.root / "checks")
    config = project.load()
    assert not config.diagnostics, [str(d) for d in config.diagnostics]
    ads = {c.spec.ad.headline: c.spec.ad for c in config.checks}
    assert set(ads) == {"GDPR Readiness Guide", "Acme Compliance Suite: 20% Off Annual Plans"}
    gdpr = ads["GDPR Readiness Guide"]
    assert gdpr.url == ("https://www.acme-health.example/lp/gdpr?utm_source=facebook&utm_medium=paid_social"
                        "&utm_campaign=fw-test&utm_content=fw-test&fbclid=FW-TEST")
    assert gdpr.keep_params[-1] == "fbclid"
    assert "$39/month" in ads["Acme Compliance Suite: 20% Off Annual Plans"].promise


def test_meta_export_with_the_newer_column_names_is_read(tmp_path):
    export = tmp_path / "meta.csv"
    export.write_text("Campaign name,Ad set name,Headline,Primary text,Website URL,URL parameters\n"
                      "Spring,All,Free HIPAA Checklist,Get it now,https://acme.example/lp/hipaa,utm_source=fb\n", encoding="utf-8")
    [ad] = read_export(export)
    assert (ad.network, ad.headlines, ad.url) == ("meta", ["Free HIPAA Checklist"], "https://acme.example/lp/hipaa?utm_source=fb&fbclid=FW-TEST")


def test_existing_check_is_kept_without_force_and_overwritten_with_it(project):
    first = import_ads(META, project.root / "checks")
    first[0].path.write_text("# edited by hand\n" + first[0].path.read_text(encoding="utf-8"), encoding="utf-8")
    again = import_ads(META, project.root / "checks")
    assert [w.action for w in again] == ["kept", "kept"]
    assert first[0].path.read_text(encoding="utf-8").startswith("# edited by hand")
    forced = import_ads(META, project.root / "checks", force=True)
    assert [w.action for w in forced] == ["overwrote", "overwrote"]
    assert not first[0].path.read_text(encoding="utf-8").startswith("# edited by hand")


def test_import_ads_command_tells_what_it_wrote_and_kept(project):
    done = cli(project, "import-ads", str(GOOGLE))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote ") == 2 and "2 check files written, 0 kept" in done.stderr
    again = cli(project, "import-ads", str(GOOGLE))
    assert "exists; use --force to overwrite" in again.stdout
    assert cli(project, "validate").returncode == 0


def test_import_ads_command_writes_to_dir(project, tmp_path):
    done = cli(project, "import-ads", str(META), "--dir", str(tmp_path / "elsewhere"))
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "elsewhere").glob("*.yaml"))) == 2


def test_an_unrecognised_csv_is_a_clear_error(project, tmp_path):
    export = tmp_path / "other.csv"
    export.write_text("Date,Clicks,Cost\n2026-01-01,3,1.20\n", encoding="utf-8")
    with pytest.raises(FunnelwatchError, match="expected a Google Ads Editor export"):
        read_export(export)
    done = cli(project, "import-ads", str(export))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "other.csv" in done.stderr


def test_ads_named_without_latin_letters_get_their_own_files(tmp_path):
    export = tmp_path / "meta.csv"
    export.write_text("Headline,Primary text,Website URL\n"
                      "Весенняя распродажа,Скидки,https://acme.example/lp/ru\n"
                      "春のセール,今すぐ,https://acme.example/lp/ja\n", encoding="utf-8")
    written = import_ads(export, tmp_path / "checks")
    stems = [w.path.stem for w in written]
    assert [w.action for w in written] == ["wrote", "wrote"]
    assert len(set(stems)) == 2 and all(s.startswith("ad-") and len(s) == 9 for s in stems), stems


def hostile_export(tmp_path, rows: list[list[str]]) -> Path:
    import csv

    export = tmp_path / "hostile.csv"
    with export.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Campaign name", "Ad set name", "Headline", "Primary text", "Website URL"])
        writer.writerows(rows)
    return export


def test_a_newline_in_a_campaign_name_never_breaks_out_of_the_generated_comment(project, tmp_path):
    export = hostile_export(tmp_path, [
        ["Spring\nenabled: false\nsteps:\n  - goto: file:///etc/passwd", "All\r\nretries: 9",
         "Free HIPAA Checklist", "Get it", "https://acme.example/lp/hipaa"],
    ])
    (written,) = import_ads(export, project.root / "checks")
    text = written.path.read_text(encoding="utf-8")
    config = project.load()
    assert not config.diagnostics, [str(d) for d in config.diagnostics]
    (check,) = config.checks
    assert check.spec.enabled and not check.spec.steps and check.spec.retries is None, text
    assert check.spec.ad.url.startswith("https://acme.example/lp/hipaa")
    for line in text.splitlines():
        assert line.startswith("#") or not line.strip() or line.startswith(("name:", "tags:", "ad:", "  ")), text


def test_links_that_are_not_http_are_refused_with_one_line_per_row(project, tmp_path):
    export = hostile_export(tmp_path, [
        ["Spring", "All", "Local file", "x", "file:///etc/passwd"],
        ["Spring", "All", "Script", "x", "javascript:alert(document.cookie)"],
        ["Spring", "All", "Good one", "x", "https://acme.example/lp/good"],
    ])
    refused: list[str] = []
    written = import_ads(export, project.root / "checks", refused=refused)
    assert [w.name for w in written] == ["Good one — Spring / All"]
    assert len(refused) == 2, refused
    assert refused[0].startswith("hostile.csv row 2: ") and "file:///etc/passwd" in refused[0] and "http" in refused[0]
    assert refused[1].startswith("hostile.csv row 3: ") and "javascript:" in refused[1]
    done = cli(project, "import-ads", str(export), "--force")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("hostile.csv row ") == 2 and "Traceback" not in done.stderr
    assert "1 check file written" in done.stderr
    assert [p.name for p in (project.root / "checks").glob("*.yaml")] == [written[0].path.name]


def test_a_variable_in_ad_text_is_imported_as_text_and_never_expanded(project, tmp_path, monkeypatch):
    monkeypatch.setenv("FW_TEST_SECRET", "s3cr3t-value")
    export = hostile_export(tmp_path, [
        ["${FW_TEST_SECRET}", "All", "Free ${FW_TEST_SECRET} checklist $${FW_TEST_SECRET}", "Save $49",
         "https://acme.example/lp/x?c=${FW_TEST_SECRET}"],
    ])
    import_ads(export, project.root / "checks")
    config = project.load()
    assert not config.diagnostics, [str(d) for d in config.diagnostics]
    (check,) = config.checks
    assert check.spec.ad.headline == "Free ${FW_TEST_SECRET} checklist $${FW_TEST_SECRET}"
    assert check.spec.ad.url.startswith("https://acme.example/lp/x?c=${FW_TEST_SECRET}")
    assert "s3cr3t" not in check.spec.model_dump_json() and not check.uses_secrets
