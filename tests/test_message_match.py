"""Message match: phrases, headline words and numbers, normalised the way people read."""

from __future__ import annotations

import pytest

from funnelwatch.steps.message_match import match_message, numbers, phrase_in

PAGE = """Free HIPAA Compliance Checklist — 2026 edition
Free HIPAA Compliance Checklist
Get the 2026 edition of our HIPAA compliance checklist, free. 40 pages covering the Security Rule &amp; the Privacy Rule.
Start your 14-day trial. Plans from $49/month. Save 30% with annual billing."""


@pytest.mark.parametrize("phrase", [
    "hipaa COMPLIANCE checklists",        # case and plural
    "Security Rule & the Privacy Rule",   # &amp;
    "the Privacy Rules.",                 # plural and full stop
    "14 day trial",                       # dash vs space
    "“Free” HIPAA   Compliance Checklist",  # curly quotes, spaces
    "checklist, free!",                   # punctuation
])
def test_what_people_do_not_notice_does_not_matter(phrase):
    assert phrase_in(PAGE, phrase)


def test_a_different_phrase_is_not_found():
    assert not phrase_in(PAGE, "GDPR readiness guide")


@pytest.mark.parametrize("text, kind, value, unit", [
    ("$49/month", "price", "49", "USD"),
    ("€49", "price", "49", "EUR"),
    ("49 USD", "price", "49", "USD"),
    ("$1,299.00 a year", "price", "1299", "USD"),
    ("30% off", "percent", "30", "%"),
    ("14-day", "duration", "14", "day"),
    ("14 days", "duration", "14", "day"),
    ("40 pages", "count", "40", "page"),
    ("49,99 €", "price", "49.99", "EUR"),
    ("1.299,00 €", "price", "1299", "EUR"),
    ("€ 1.299", "price", "1299", "EUR"),
    ("EUR 49,90 pro Monat", "price", "49.9", "EUR"),
    ("£1,299.50", "price", "1299.5", "GBP"),
    ("1.000,50 CHF", "price", "1000.5", "CHF"),
    ("30 % off", "percent", "30", "%"),
    ("12,5 % Rabatt", "percent", "12.5", "%"),
    ("1.000 pages", "count", "1000", "page"),
    ("2,500 downloads", "count", "2500", "download"),
])
def test_numbers_are_read_with_their_kind_and_unit(text, kind, value, unit):
    [claim] = numbers(text)
    assert (claim.kind, claim.value, claim.unit) == (kind, value, unit)


def test_healthy_page_matches_every_promise_with_its_sentence():
    result = match_message(PAGE, "Free HIPAA Compliance Checklist", ["2026 edition", "40 pages", "$49/mo", "14 day trial"], 0.8)
    assert result.passed and result.score == 1.0
    rows = {row.promise: row for row in result.items}
    assert rows["40 pages"].found_in.startswith("40 pages covering")
    assert rows["$49/mo"].found and "Plans from $49/month" in rows["$49/mo"].found_in


def test_changed_price_names_both_prices():
    result = match_message(PAGE.replace("$49/month", "$59/month"), "Suite from $49/month", [], 0.5)
    assert not result.passed
    assert result.reason("https://acme.example/pricing") == "the ad says '$49/month' but the page at https://acme.example/pricing says '$59/month'"


def test_price_in_another_currency_is_not_a_match():
    result = match_message("Only €49 per month.", None, ["$49/month"], 0.5)
    assert not result.passed


def test_changed_percentage_duration_and_count_are_mismatches_naming_both():
    for ad, page_says in (("20% off", "30%"), ("7-day trial", "14-day"), ("60 pages", "40 pages")):
        result = match_message(PAGE, None, [ad], 0.0)
        assert not result.passed, ad
        assert f"'{page_says}'" in result.reason("u"), result.reason("u")


def test_numbers_must_match_even_when_the_score_is_high():
    result = match_message(PAGE, "Free HIPAA Compliance Checklist", ["50% off"], 0.5)
    assert result.score >= 0.5 and not result.passed


def test_score_below_min_match_names_the_missing_promises():
    result = match_message("Welcome to Acme. We do compliance.", "Free HIPAA Checklist", ["HIPAA compliance checklist", "2026 edition"], 0.8)
    assert not result.passed
    reason = result.reason("u")
    assert "'HIPAA compliance checklist'" in reason and "'2026 edition'" in reason and "min_match 80%" in reason


def test_min_match_allows_some_promises_to_be_missing():
    result = match_message(PAGE, None, ["HIPAA compliance checklist", "Security Rule", "SOC 2 report"], 0.6)
    assert result.passed and round(result.score, 2) == 0.67
    assert [row.promise for row in result.missing] == ["SOC 2 report"]


def test_headline_stopwords_do_not_count():
    result = match_message("HIPAA checklist", "Get your HIPAA checklist now", [], 1.0)
    assert result.passed and [row.promise for row in result.items] == ["hipaa", "checklist"]


GERMAN_PAGE = """Kostenlose HIPAA-Checkliste
Nur 49,99 € im Monat. Das Jahrespaket kostet 1.299,00 €. Jetzt 30 % sparen."""


@pytest.mark.parametrize("ad", ["€49.99", "€49.99/month", "€1,299", "EUR 1,299.00", "30% off"])
def test_german_price_with_decimal_comma_matches_english_ad(ad):
    result = match_message(GERMAN_PAGE, None, [ad], 0.0)
    assert result.passed, result.reason("u")
    assert not result.conflicts


def test_german_price_is_read_whole_when_it_differs():
    result = match_message(GERMAN_PAGE, None, ["€39.99"], 0.0)
    assert not result.passed
    assert result.reason("u") == "the ad says '€39.99' but the page at u says '49,99 € im monat'"


@pytest.mark.parametrize(("text", "value"), [("49,99 €", "49.99"), ("1.299,00 €", "1299"), ("$1,299", "1299")])
def test_no_price_is_read_from_the_cents_alone(text, value):
    assert [claim.value for claim in numbers(text)] == [value]


def test_a_real_price_change_is_still_a_mismatch_in_any_notation():
    result = match_message("Nur $59 im Monat.", None, ["$49"], 0.0)
    assert not result.passed and result.reason("u") == "the ad says '$49' but the page at u says '$59 im monat'"
