"""File-safe names: accents fold to ASCII letters, ASCII names keep the names they always had."""

from __future__ import annotations

from funnelwatch.text import slugify


def test_slug_folds_accents_and_sharp_s_instead_of_dropping_letters() -> None:
    assert slugify("Über uns — Größe") == "Uber-uns-Grosse"
    assert slugify("Café crème", lower=True, keep="") == "cafe-creme"
    assert slugify("STRASSE ẞ Ærø Łódź") == "STRASSE-SS-AEro-Lodz"


def test_slug_of_an_ascii_name_is_unchanged_so_report_pages_keep_their_names() -> None:
    assert slugify("Summer sale — Meta ads") == "Summer-sale-Meta-ads"
    assert slugify("Summer Sale", lower=True, keep="") == "summer-sale"
    assert slugify("hipaa_intake.v2", keep="_-", max_length=40) == "hipaa_intake-v2"
    assert slugify("   ", fallback="check") == "check"
