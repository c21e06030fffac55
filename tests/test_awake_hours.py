"""The awake hours (Variable fargate_environments_awake_hours): read, judged and the next opening found,
in the zone they name."""

from __future__ import annotations

import datetime as dt

import pytest

from fargate_provider.environments.awake_hours import AwakeHoursError, parse

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def test_weekdays_in_berlin_awake_and_the_next_opening_after_a_weekend():
    hours = parse("Mon-Fri 07:00-20:00 Europe/Berlin")
    assert hours.awake(at("2026-12-07T06:30:00+00:00"))  # Monday 07:30 in Berlin (UTC+1)
    assert not hours.awake(at("2026-12-07T05:30:00+00:00"))  # Monday 06:30 in Berlin
    assert not hours.awake(at("2026-12-05T12:00:00+00:00"))  # Saturday
    # Friday 21:00 in Berlin: the next opening is Monday 07:00 there, 06:00 UTC
    assert parse("Mon-Fri 07:00-20:00 Europe/Berlin").next_start(at("2026-12-04T20:00:00+00:00")) == at(
        "2026-12-07T06:00:00+00:00"
    )


def test_lists_daily_and_spacing():
    assert parse("Mon,Wed,Fri 09:00-17:00 UTC").days == frozenset({0, 2, 4})
    assert parse("  daily   08:00-18:00   America/New_York ").days == frozenset(range(7))
    assert parse(None) is None and parse("") is None


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("weekdays 07:00-20:00 UTC", "has days 'weekdays'"),
        ("Fri-Mon 07:00-20:00 UTC", "has the range 'Fri-Mon' backwards"),
        ("Mon-Fri 20:00-07:00 UTC", "does not start before it ends"),
        ("Mon-Fri 07:00-25:00 UTC", "not HH:MM"),
        ("Mon-Fri 07:00-20:00 Mars/Olympus", "not an IANA zone"),
        ("Mon-Fri", "is not 'DAYS HH:MM-HH:MM ZONE'"),
    ],
)
def test_a_spec_that_cannot_be_read_names_the_variable_and_what_is_allowed(spec, says):
    with pytest.raises(AwakeHoursError, match=f"fargate_environments_awake_hours: .*{says}"):
        parse(spec)
