"""The pipeline's "today": the wall clock, or a day pinned with ``SMARTCITY_TODAY``.

Everything that judges time against the calendar reads it here: which days are complete (sources
publish up to yesterday), freshness, the KPI periods still in progress (the dbt var ``today``),
the emulated calendar. ``SMARTCITY_TODAY=YYYY-MM-DD`` (Asia/Bangkok) pins the day and keeps the
wall clock's time of day, so a test suite, a reproduction or a demo of a past day sees one
calendar everywhere. What records when something happened (a response received, a run started)
keeps the real time: it is a fact for the auditor, not a judgement.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone

BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")  # local time of every source; no DST
TODAY_VARIABLE = "SMARTCITY_TODAY"


def parse_day(text: str, where: str) -> date:
    """``text`` as a YYYY-MM-DD day, or a ValueError naming ``where`` it came from."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{where}: expected a date YYYY-MM-DD, got {text!r}") from None


def pinned_today() -> date | None:
    """The day ``SMARTCITY_TODAY`` pins, if set."""
    text = os.environ.get(TODAY_VARIABLE, "").strip()
    return parse_day(text, TODAY_VARIABLE) if text else None


def now() -> datetime:
    """The pipeline's current instant (UTC): on the pinned day, at the wall clock's time of day."""
    wall = datetime.now(BANGKOK)
    pinned = pinned_today()
    if pinned is None:
        return wall.astimezone(UTC)
    return datetime.combine(pinned, wall.timetz()).astimezone(UTC)


def today() -> date:
    """The pipeline's current day in Asia/Bangkok."""
    return now().astimezone(BANGKOK).date()


def offset() -> timedelta:
    """How far the pipeline's calendar is from the wall clock's (whole days; 0 unless pinned).

    A record's time (a reading, a complaint) is on the pipeline's calendar, a batch's receipt
    on the wall clock: an age is judged against the clock its time comes from.
    """
    pinned = pinned_today()
    return timedelta(0) if pinned is None else pinned - datetime.now(BANGKOK).date()
