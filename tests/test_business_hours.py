"""Business-hours arithmetic: weekends, holidays, daylight-saving changes, bad input."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from funnelwatch.business_hours import BusinessHours
from funnelwatch.config import validate_text
from funnelwatch.schema import CheckSpec

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Berlin")


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def test_a_reply_after_the_weekend_counts_only_friday_and_monday_hours():
    friday_4pm, monday_10am = berlin(2026, 1, 16, 16, 0), berlin(2026, 1, 19, 10, 0)
    assert HOURS.seconds_between(friday_4pm, monday_10am) == 2 * 3600
    assert HOURS.add(friday_4pm, 2 * 3600) == monday_10am


def test_a_request_sent_at_night_starts_the_clock_at_opening_time():
    saturday_night = berlin(2026, 1, 17, 23, 30)
    assert HOURS.add(saturday_night, 0) == berlin(2026, 1, 19, 9, 0)
    assert HOURS.add(saturday_night, 8 * 3600) == berlin(2026, 1, 19, 17, 0)
    assert HOURS.add(saturday_night, 8 * 3600 + 1) == berlin(2026, 1, 20, 9, 0, 1)


def test_spring_forward_weekend_changes_wall_time_but_not_business_time():
    friday_4pm, monday_11am = berlin(2026, 3, 27, 16, 0), berlin(2026, 3, 30, 11, 0)
    wall = (monday_11am.astimezone(timezone.utc) - friday_4pm.astimezone(timezone.utc)).total_seconds()
    assert wall == 67 * 3600 - 3600  # 67h on the wall clock, 66h elapsed: the clocks sprang forward on Sunday
    assert HOURS.seconds_between(friday_4pm, monday_11am) == 3 * 3600
    assert HOURS.add(friday_4pm, 3 * 3600).astimezone(timezone.utc) == datetime(2026, 3, 30, 9, 0, tzinfo=timezone.utc)


def test_a_round_the_clock_team_gets_23_hours_on_the_spring_forward_sunday_and_25_in_autumn():
    always = BusinessHours.parse("Mon-Sun 00:00-24:00 Europe/Berlin")
    assert always.seconds_between(berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 23 * 3600
    assert always.seconds_between(berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 25 * 3600


def test_holidays_are_closed():
    hours = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Berlin", holidays=["2026-12-24", "2026-12-25"])
    wednesday_4pm = berlin(2026, 12, 23, 16, 0)
    assert hours.add(wednesday_4pm, 2 * 3600) == berlin(2026, 12, 28, 10, 0)
    assert hours.seconds_between(wednesday_4pm, berlin(2026, 12, 28, 10, 0)) == 2 * 3600


def test_a_region_code_closes_that_regions_public_holidays():
    # Epiphany (6 January) is a holiday in Bavaria, not in Berlin.
    bavaria = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Berlin", holidays=["DE-BY", "2026-01-07"])
    monday_4pm = berlin(2026, 1, 5, 16, 0)
    assert bavaria.add(monday_4pm, 2 * 3600) == berlin(2026, 1, 8, 10, 0)
    assert HOURS.add(monday_4pm, 2 * 3600) == berlin(2026, 1, 6, 10, 0)
    us = BusinessHours.parse("Mon-Fri 09:00-17:00 America/New_York", holidays=["US"])
    wednesday_before_thanksgiving = datetime(2026, 11, 25, 16, 0, tzinfo=ZoneInfo("America/New_York"))
    assert us.add(wednesday_before_thanksgiving, 2 * 3600) == datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize("code, message", [
    ("XX", "holiday 'XX': there is no holiday calendar for the country XX — use an ISO country code like DE, US or GB"),
    ("DE-ZZ", "holiday 'DE-ZZ': DE has no region ZZ — write it like DE-BB, DE-BE"),
    ("Christmas", "holiday 'Christmas' is not a date or a country/region code; write it like 2026-12-25, DE-BY or US"),
])
def test_an_unknown_holiday_code_is_a_validation_error(code, message):
    text = ("name: Demo\nlanding:\n  url: https://example.com/demo\nform:\n  fill: {email: '{inbox}'}\n"
            f"followup:\n  within: 1d\n  hours: Mon-Fri 09:00-17:00 Europe/Berlin\n  holidays: [{code}]\n")
    (found,) = validate_text(text, CheckSpec, "checks/demo.yaml")
    assert str(found).startswith(f"checks/demo.yaml:9: followup.holidays: {message}"), found


def test_other_zones_and_day_lists():
    hours = BusinessHours.parse("Mon,Wed,Fri 08:30-12:00 America/New_York")
    tuesday = datetime(2026, 6, 2, 14, 0, tzinfo=timezone.utc)
    assert hours.add(tuesday, 3600) == datetime(2026, 6, 3, 13, 30, tzinfo=timezone.utc)  # Wed 09:30 EDT
    assert BusinessHours.parse("Sat-Mon 10:00-11:00").weekdays == frozenset({5, 6, 0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weekdays 9-5", "is not business hours; write it like 'Mon-Fri 09:00-17:00 Europe/Berlin'"),
        ("Mon-Fri 17:00-09:00 UTC", "closing time 09:00 must be after opening time 17:00"),
        ("Mon-Fri 09:00-17:00 Europe/Berlinn", "'Europe/Berlinn' is not a time zone"),
        ("Mon-Fry 09:00-17:00", "'Fry' is not a weekday"),
        ("Mon-Fri 09:00-25:00", "'25:00' is not a time of day"),
    ],
)
def test_bad_business_hours_are_explained(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BusinessHours.parse(text)


def test_bad_hours_in_a_check_file_are_reported_at_validation():
    text = """\
name: Demo
form:
  fill: {email: "{inbox}"}
landing:
  url: https://example.com/demo
followup:
  within: 4h
  hours: Mon-Fri 9-17
"""
    [diagnostic] = validate_text(text, CheckSpec, "checks/demo.yaml")
    assert str(diagnostic).startswith("checks/demo.yaml:8: followup.hours:")
    assert "is not business hours" in str(diagnostic)
    fixed = text.replace("9-17", "09:00-17:00 Europe/Berlin\n  holidays: [2026-12-24, 2026-12-25]")
    assert validate_text(fixed, CheckSpec, "checks/demo.yaml") == []
    bad_day = text.replace("9-17", "09:00-17:00\n  holidays: [christmas]")
    [diagnostic] = validate_text(bad_day, CheckSpec, "checks/demo.yaml")
    assert "holiday 'christmas' is not a date or a country/region code; write it like 2026-12-25, DE-BY or US" in str(diagnostic)
