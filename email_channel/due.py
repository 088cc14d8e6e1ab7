"""Due times in business hours: "answer within 4 business hours" as a moment.

Pure: the arrival time is passed in. The clock runs only inside the configured hours
on the configured weekdays, in the configured time zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from email_channel.settings import BusinessHours

# A due time further than this many days of closed hours away is a configuration
# without open hours worth searching: stop there.
_MAX_DAYS = 400


def _clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def due_at(arrived_at: float, business_hours: float, hours: BusinessHours) -> float:
    """The Unix time ``business_hours`` of open time after ``arrived_at``."""
    zone = ZoneInfo(hours.timezone)
    start, end = _clock(hours.start), _clock(hours.end)
    remaining = business_hours * 3600.0
    moment = dt.datetime.fromtimestamp(arrived_at, zone)
    for _ in range(_MAX_DAYS):
        day = moment.date()
        if day.isoweekday() in hours.days:
            opens = dt.datetime.combine(day, start, zone)
            closes = dt.datetime.combine(day, end, zone)
            begin = max(moment, opens)
            if begin < closes:
                available = (closes - begin).total_seconds()
                if remaining <= available:
                    return (begin + dt.timedelta(seconds=remaining)).timestamp()
                remaining -= available
        moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), zone)
    return moment.timestamp()
