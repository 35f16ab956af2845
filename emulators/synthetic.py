"""Shared ground for synthetic Khon Kaen data: the six municipalities, the year, seeded RNGs.

Every day's data comes from an RNG seeded by (dataset, day), so a day's rows never change when
the emulated "today" moves on: re-serving a day gives the same bytes, and a new day only adds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from connectors import clock
from connectors.clock import BANGKOK

BE_OFFSET = 543  # Buddhist-era year = CE year + 543


@dataclass(frozen=True)
class Municipality:
    municipality_id: str
    name_en: str
    name_th: str
    name_th_variant: str  # the second spelling some sources use
    lat: float
    lon: float
    population: int  # registered inhabitants, around 2025
    districts: int  # communities (chumchon) the population table is broken into


MUNICIPALITIES: tuple[Municipality, ...] = (
    Municipality(
        "khon_kaen_city",
        "Khon Kaen City",
        "เทศบาลนครขอนแก่น",
        "ทน.ขอนแก่น",
        16.43,
        102.83,
        113_500,
        8,
    ),
    Municipality("sila", "Sila", "เทศบาลเมืองศิลา", "ทม.ศิลา", 16.48, 102.82, 38_200, 5),
    Municipality("tha_phra", "Tha Phra", "เทศบาลตำบลท่าพระ", "ทต.ท่าพระ", 16.33, 102.80, 9_800, 4),
    Municipality("samran", "Samran", "เทศบาลตำบลสำราญ", "ทต.สำราญ", 16.52, 102.85, 7_600, 3),
    Municipality("ban_thum", "Ban Thum", "เทศบาลตำบลบ้านทุ่ม", "ทต.บ้านทุ่ม", 16.45, 102.72, 10_400, 4),
    Municipality("ban_pet", "Ban Pet", "เทศบาลตำบลบ้านเป็ด", "ทต.บ้านเป็ด", 16.44, 102.78, 21_900, 5),
)


@dataclass(frozen=True)
class Clock:
    """The emulated calendar: a year of daily history that ends the day before ``today``."""

    today: date
    history_days: int = 365

    @classmethod
    def now(cls, history_days: int = 365) -> Clock:
        """The pipeline's today (``SMARTCITY_TODAY`` pins it)."""
        return cls(clock.today(), history_days)

    @property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.history_days)

    @property
    def last_day(self) -> date:
        return self.today - timedelta(days=1)

    def days(self) -> Iterator[date]:
        day = self.first_day
        while day < self.today:
            yield day
            day += timedelta(days=1)

    def local(self, day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute, second), BANGKOK)


def rng(*seed: object) -> random.Random:
    """A random generator that always gives the same sequence for the same seed parts."""
    return random.Random("|".join(str(part) for part in seed))


def jitter(generator: random.Random, centre: float, spread: float) -> float:
    return centre + generator.uniform(-spread, spread)
