"""When environments are awake: the Variable ``settings.ENVIRONMENTS_AWAKE_HOURS``.

``Mon-Fri 07:00-20:00 Europe/Berlin``: days (a range ``Mon-Fri``, a list ``Mon,Wed,Fri``, or
``daily``), a window within one day (start before end), and an IANA time zone. Outside the window
the janitor puts every awake environment to sleep (``environments.sleep``); nobody is woken
automatically: people wake theirs (page, ``fargate-env wake``) when they need it. Unset (the
default): the janitor puts nothing to sleep.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fargate_provider import settings
from fargate_rules.input_errors import InputError

VARIABLE = settings.ENVIRONMENTS_AWAKE_HOURS.name
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SPEC = re.compile(r"^(?P<days>\S+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})\s+(?P<zone>\S+)$")


class AwakeHoursError(InputError):
    """The Variable cannot be read; the message says what is allowed."""


@dataclass(frozen=True)
class AwakeHours:
    days: frozenset[int]  # Monday 0
    start: dt.time
    end: dt.time
    zone: ZoneInfo
    text: str

    def awake(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time().replace(tzinfo=None) < self.end

    def next_start(self, now: dt.datetime) -> dt.datetime:
        """The next time the window opens after ``now`` (UTC)."""
        local = now.astimezone(self.zone)
        for ahead in range(8):
            day = local.date() + dt.timedelta(days=ahead)
            opens = dt.datetime.combine(day, self.start, self.zone)
            if day.weekday() in self.days and opens > local:
                return opens.astimezone(dt.UTC)
        raise AssertionError("a week always holds one of the days")  # days is never empty


def _error(text: str, why: str) -> AwakeHoursError:
    return AwakeHoursError(
        f"{VARIABLE}: {text!r} {why}; give days, a window and a time zone, e.g. 'Mon-Fri 07:00-20:00 Europe/Berlin'"
    )


def _days(text: str, spec: str) -> frozenset[int]:
    if text.lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise _error(spec, f"has days {text!r} (use {', '.join(DAYS)}, ranges such as Mon-Fri, or daily)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise _error(spec, f"has the range {part!r} backwards")
        days.update(range(a, b + 1))
    return frozenset(days)


def parse(spec: str | None) -> AwakeHours | None:
    """The awake hours the Variable gives, or None when it is unset or empty."""
    if spec is None or not str(spec).strip():
        return None
    text = " ".join(str(spec).split())
    match = _SPEC.match(text)
    if not match:
        raise _error(text, "is not 'DAYS HH:MM-HH:MM ZONE'")
    try:
        start = dt.time.fromisoformat(match["start"])
        end = dt.time.fromisoformat(match["end"])
    except ValueError:
        raise _error(text, "has a time that is not HH:MM (00:00-23:59)") from None
    if not start < end:
        raise _error(text, "has a window that does not start before it ends (one that crosses midnight is not offered)")
    try:
        zone = ZoneInfo(match["zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise _error(
            text, f"has the time zone {match['zone']!r}, which is not an IANA zone such as Europe/Berlin"
        ) from None
    return AwakeHours(_days(match["days"], text), start, end, zone, text)
