"""The synthetic data behind the city's CKAN portal (:mod:`emulators.city`): four DataStore tables.

``population``, ``mice_events``, ``hotel_occupancy`` and ``solar`` each build a :class:`Table`
(package metadata, fields, rows with their publication dates, and how a row is spoiled for each
data fault) from the emulated clock and the history start. Every row comes from an RNG seeded by
(dataset, entity, day or year), so the tables are deterministic and only grow as today moves on.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from emulators.synthetic import BE_OFFSET, MUNICIPALITIES, Clock, Municipality, rng

NAMESPACE = uuid.UUID("6f1d3c1e-4b1a-4c55-9a51-0c6b1d3a2e01")  # resource/package ids are stable
UNKNOWN_MUNICIPALITY = "เทศบาลตำบลเมืองเก่า"  # a real kind of name, but not one of the six

Record = dict[str, Any]
Spoiler = Callable[[Record, int], None]


@dataclass
class Table:
    """One package with one DataStore resource; rows in ``_id`` order with a publication date."""

    package: str
    title: str
    notes: str
    tags: tuple[str, ...]
    resource_name: str
    fields: tuple[tuple[str, str], ...]
    rows: list[tuple[date, Record]]
    malformed: Spoiler
    out_of_range: Spoiler
    unknown_code: Spoiler
    resource_id: str = field(init=False)
    package_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.package_id = str(uuid.uuid5(NAMESPACE, self.package))
        self.resource_id = str(uuid.uuid5(NAMESPACE, f"{self.package}/{self.resource_name}"))
        # _id is the position in publication order, as the DataStore assigns it on append.
        self.rows = [(day, {"_id": n, **record}) for n, (day, record) in enumerate(self.rows, 1)]

    def published(self, cutoff: date) -> list[Record]:
        """The rows published on or before ``cutoff`` (a prefix, since rows are in that order)."""
        return [record for day, record in self.rows if day <= cutoff]


def be_date(day: date) -> str:
    """A date as Thai portals write it: day/month/Buddhist-era year."""
    return f"{day.day:02d}/{day.month:02d}/{day.year + BE_OFFSET}"


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _from_be(text: str) -> date:
    day, month, year = (int(part) for part in text.split("/"))
    return date(year - BE_OFFSET, month, day)


# --------------------------------------------------------------------------------------------
# The four tables

_PREFIX = {
    "khon_kaen_city": "KKC",
    "sila": "SLA",
    "tha_phra": "TPR",
    "samran": "SMR",
    "ban_thum": "BTM",
    "ban_pet": "BPT",
}
_COMMUNITIES = {
    "khon_kaen_city": (
        "ชุมชนหนองแวงตราชู",
        "ชุมชนศรีจันทร์",
        "ชุมชนโนนชัย",
        "ชุมชนคุ้มวัดกลาง",
        "ชุมชนหนองวัด",
        "ชุมชนเทพารักษ์",
        "ชุมชนสามเหลี่ยม",
        "ชุมชนโนนหนองวัด",
    ),
    "sila": (
        "ชุมชนบ้านศิลา",
        "ชุมชนโคกหนองโน",
        "ชุมชนบ้านหนองไฮ",
        "ชุมชนมหาวิทยาลัย",
        "ชุมชนบ้านโคกฟันโปง",
    ),
    "tha_phra": ("ชุมชนบ้านท่าพระ", "ชุมชนตลาดท่าพระ", "ชุมชนบ้านหนองบัว", "ชุมชนบ้านโนนม่วง"),
    "samran": ("ชุมชนบ้านสำราญ", "ชุมชนบ้านโนนสำราญ", "ชุมชนบ้านหนองแวง"),
    "ban_thum": (
        "ชุมชนบ้านทุ่มเหนือ",
        "ชุมชนบ้านทุ่มใต้",
        "ชุมชนบ้านหนองหว้า",
        "ชุมชนบ้านดอนหญ้านาง",
    ),
    "ban_pet": (
        "ชุมชนบ้านเป็ด",
        "ชุมชนบ้านโนนทัน",
        "ชุมชนบ้านหนองปิง",
        "ชุมชนบ้านโนนรัง",
        "ชุมชนบ้านหัวทุ่ง",
    ),
}
_BY_ID = {m.municipality_id: m for m in MUNICIPALITIES}
_REFERENCE_YEAR = 2025  # the year MUNICIPALITIES' populations describe


@dataclass(frozen=True)
class _Community:
    municipality: Municipality
    code: str
    name: str
    lat: float
    lon: float
    growth: float  # a year
    household_size: float
    share: float  # of the municipality's population


def _communities() -> list[_Community]:
    communities = []
    for municipality in MUNICIPALITIES:
        names = _COMMUNITIES.get(municipality.municipality_id, ())
        drawn = []
        for index in range(municipality.districts):
            code = f"{_PREFIX[municipality.municipality_id]}-{index + 1:02d}"
            g = rng("city.population", code)
            drawn.append((code, g.uniform(0.6, 1.4), g))
        total = sum(weight for _, weight, _ in drawn)
        for index, (code, weight, g) in enumerate(drawn):
            communities.append(
                _Community(
                    municipality=municipality,
                    code=code,
                    name=names[index] if index < len(names) else f"ชุมชนที่ {index + 1}",
                    lat=round(municipality.lat + g.uniform(-0.02, 0.02), 6),
                    lon=round(municipality.lon + g.uniform(-0.02, 0.02), 6),
                    growth=g.uniform(-0.004, 0.012),
                    household_size=g.uniform(2.5, 3.1),
                    share=weight / total,
                )
            )
    return communities


def population(clock: Clock, start: date) -> Table:
    rows: list[tuple[date, Record]] = []
    communities = _communities()
    for year in range(start.year - 2, clock.last_day.year + 1):
        for c in communities:
            g = rng("city.population", c.code, year)
            people = round(
                c.municipality.population
                * c.share
                * (1 + c.growth) ** (year - _REFERENCE_YEAR)
                * g.uniform(0.997, 1.003)
            )
            households = round(people / (c.household_size * g.uniform(0.99, 1.01)))
            variant = g.random() < 0.25
            record = {
                "community_code": c.code,
                "community_name": c.name,
                "municipality": (
                    c.municipality.name_th_variant if variant else c.municipality.name_th
                ),
                "year": str(year + BE_OFFSET),
                "population": f"{people:,}",
                "households": f"{households:,}",
                "lat": c.lat,
                "lon": c.lon,
            }
            rows.append((date(year, 1, 1), record))

    def malformed(record: Record, n: int) -> None:
        if n % 2 == 0:
            record["population"] = "n/a"
        else:
            record["community_code"] = None

    def out_of_range(record: Record, n: int) -> None:
        record["lat"] = round(record["lat"] + 3.0, 6)  # around 19.4 N: Chiang Rai, not Khon Kaen

    def unknown_code(record: Record, n: int) -> None:
        record["municipality"] = UNKNOWN_MUNICIPALITY

    return Table(
        package="kk-population",
        title="จำนวนประชากรและครัวเรือนรายชุมชน (Population and households by community)",
        notes="ประชากรตามทะเบียนราษฎร์รายชุมชน รายปี (พ.ศ.) ของเทศบาลในเครือข่าย KKTS",
        tags=("population", "ประชากร", "community"),
        resource_name="population-by-community",
        fields=(
            ("community_code", "text"),
            ("community_name", "text"),
            ("municipality", "text"),
            ("year", "text"),
            ("population", "text"),
            ("households", "text"),
            ("lat", "numeric"),
            ("lon", "numeric"),
        ),
        rows=rows,
        malformed=malformed,
        out_of_range=out_of_range,
        unknown_code=unknown_code,
    )


_EVENT_TYPES = ("meeting", "incentive", "convention", "exhibition")
_EVENT_WEIGHTS = (0.4, 0.15, 0.25, 0.2)
# type: (attendees low, high, international share low, high, days low, high)
_EVENT_SHAPE = {
    "meeting": (40, 400, 0.0, 0.10, 1, 2),
    "incentive": (30, 300, 0.10, 0.40, 3, 4),
    "convention": (300, 3000, 0.05, 0.20, 2, 3),
    "exhibition": (2000, 25000, 0.01, 0.05, 3, 7),
}
_EVENT_NAMES = {
    "meeting": (
        "ประชุมผู้บริหารท้องถิ่นภาคตะวันออกเฉียงเหนือ",
        "Isan Regional Health Forum",
        "ประชุมเชิงปฏิบัติการเมืองอัจฉริยะ",
        "Mekong Logistics Roundtable",
    ),
    "incentive": (
        "Incentive Trip: Isan Silk and Culture",
        "ทริปท่องเที่ยวเพื่อเป็นรางวัลพนักงาน",
        "Corporate Retreat Khon Kaen",
        "ทัศนศึกษาเส้นทางไดโนเสาร์ภูเวียง",
    ),
    "convention": (
        "KKU International Conference",
        "Khon Kaen Smart City Summit",
        "ประชุมวิชาการแพทย์ศรีนครินทร์",
        "ASEAN Agri-Tech Convention",
    ),
    "exhibition": (
        "มหกรรมผ้าไหมและของดีขอนแก่น",
        "Isan Agri Expo",
        "งานแสดงสินค้า OTOP ภาคอีสาน",
        "Khon Kaen Motor Show",
    ),
}
_VENUES = {
    "khon_kaen_city": (
        "ศูนย์ประชุมและแสดงสินค้านานาชาติขอนแก่น (KICE)",
        "ขอนแก่นฮอลล์",
        "ห้องบอลรูม โรงแรมบึงแก่นนคร แกรนด์",
        "Khon Kaen Convention Hotel",
    ),
    "sila": ("ศูนย์ประชุมอเนกประสงค์กาญจนาภิเษก มหาวิทยาลัยขอนแก่น", "KKU Residence"),
    "tha_phra": ("ท่าพระ ลอดจ์",),
    "samran": ("โรงแรมสำราญ รีสอร์ท",),
    "ban_thum": ("บ้านทุ่ม วิลล่า",),
    "ban_pet": ("โรงแรมบ้านเป็ด อินน์",),
}


def mice_events(clock: Clock, start: date) -> Table:
    dataset = "city.mice_events"
    events: list[tuple[date, date, str, Record]] = []
    year, month = start.year, start.month
    while (year, month) <= (clock.last_day.year, clock.last_day.month):
        g = rng(dataset, year, month)
        count = g.randint(2, 4) + (2 if month in (11, 12, 1, 2) else 0)
        days_in_month = calendar.monthrange(year, month)[1]
        for n in range(count):
            kind = g.choices(_EVENT_TYPES, _EVENT_WEIGHTS)[0]
            low, high, share_low, share_high, days_low, days_high = _EVENT_SHAPE[kind]
            place = g.random()
            municipality = (
                _BY_ID["khon_kaen_city"]
                if place < 0.8
                else _BY_ID["sila"]
                if place < 0.92
                else g.choice(MUNICIPALITIES[2:])
            )
            if kind == "exhibition" and municipality.municipality_id != "khon_kaen_city":
                municipality = _BY_ID["khon_kaen_city"]  # only the city has the halls for it
            venues = _VENUES[municipality.municipality_id]
            venue = venues[0] if kind == "exhibition" else g.choice(venues)
            first = date(year, month, g.randint(1, days_in_month))
            last = first + timedelta(days=g.randint(days_low, days_high) - 1)
            attendees = g.randint(low, high)
            international = round(attendees * g.uniform(share_low, share_high))
            domestic = attendees - international
            days = (last - first).days + 1
            revenue = days * (
                domestic * g.uniform(1800, 3500) + international * g.uniform(5000, 9000)
            )
            template = g.choice(_EVENT_NAMES[kind])
            thai = any("\u0e00" <= ch <= "\u0e7f" for ch in template)
            name = f"{template} {year + BE_OFFSET if thai else year}"
            event_id = f"MICE-{year + BE_OFFSET}{month:02d}-{n + 1:02d}"
            record = {
                "event_id": event_id,
                "event_name": name,
                "event_type": kind,
                "venue": venue,
                "municipality": municipality.name_th,
                "start_date": be_date(first),
                "end_date": be_date(last),
                "domestic_attendees": f"{domestic:,}",
                "international_attendees": f"{international:,}",
                "revenue_thb": f"{revenue:,.2f}",
            }
            if last <= clock.last_day:
                events.append((last, first, event_id, record))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    def malformed(record: Record, n: int) -> None:
        if n % 2 == 0:
            record["domestic_attendees"] = "n/a"
        else:
            record["start_date"] = "31/02/" + record["start_date"][-4:]

    def out_of_range(record: Record, n: int) -> None:
        if n % 2 == 0:  # it ends two days before it starts
            record["end_date"] = be_date(_from_be(record["start_date"]) - timedelta(days=2))
        else:
            record["international_attendees"] = "-35"

    def unknown_code(record: Record, n: int) -> None:
        record["event_type"] = "festival"

    return Table(
        package="kk-mice-events",
        title="งานประชุม สัมมนา และนิทรรศการ (MICE events and attendees)",
        notes="การจัดงาน MICE ในพื้นที่ จำนวนผู้เข้าร่วมชาวไทยและชาวต่างชาติ และรายได้จากการใช้จ่าย",
        tags=("mice", "tourism", "การท่องเที่ยว"),
        resource_name="mice-events",
        fields=(
            ("event_id", "text"),
            ("event_name", "text"),
            ("event_type", "text"),
            ("venue", "text"),
            ("municipality", "text"),
            ("start_date", "text"),
            ("end_date", "text"),
            ("domestic_attendees", "text"),
            ("international_attendees", "text"),
            ("revenue_thb", "text"),
        ),
        rows=[(last, record) for last, _, _, record in events],
        malformed=malformed,
        out_of_range=out_of_range,
        unknown_code=unknown_code,
    )


# hotel_id, name, municipality, rooms
_HOTELS = (
    ("KKH-01", "โรงแรมบึงแก่นนคร แกรนด์", "khon_kaen_city", 220),
    ("KKH-02", "Khon Kaen Convention Hotel", "khon_kaen_city", 300),
    ("KKH-03", "โรงแรมศรีจันทร์ บูทีค", "khon_kaen_city", 60),
    ("KKH-04", "โรงแรมหน้าเมือง พลาซ่า", "khon_kaen_city", 150),
    ("KKH-05", "Prachasamosorn Residence", "khon_kaen_city", 90),
    ("KKH-06", "โรงแรมกังสดาล ซิตี้", "khon_kaen_city", 120),
    ("KKH-07", "โรงแรมศิลา การ์เด้น", "sila", 80),
    ("KKH-08", "KKU Residence", "sila", 110),
    ("KKH-09", "ท่าพระ ลอดจ์", "tha_phra", 40),
    ("KKH-10", "โรงแรมสำราญ รีสอร์ท", "samran", 50),
    ("KKH-11", "บ้านทุ่ม วิลล่า", "ban_thum", 35),
    ("KKH-12", "โรงแรมบ้านเป็ด อินน์", "ban_pet", 60),
)
_SEASON = {
    1: 0.10,
    2: 0.08,
    3: 0.0,
    4: 0.02,
    5: -0.03,
    6: -0.08,
    7: -0.08,
    8: -0.07,
    9: -0.08,
    10: -0.02,
    11: 0.08,
    12: 0.12,
}


def hotel_occupancy(clock: Clock, start: date) -> Table:
    dataset = "city.hotel_occupancy"
    rows: list[tuple[date, Record]] = []
    base = {hotel_id: rng(dataset, hotel_id).uniform(0.55, 0.72) for hotel_id, *_ in _HOTELS}
    for day in _days(start, clock.last_day):
        weekend = 0.08 if day.weekday() in (4, 5) else 0.0
        for hotel_id, name, municipality_id, rooms in _HOTELS:
            g = rng(dataset, hotel_id, day)
            available = rooms - g.randint(0, max(1, rooms // 30))
            rate = base[hotel_id] + _SEASON[day.month] + weekend + g.uniform(-0.07, 0.07)
            occupied = round(min(0.98, max(0.15, rate)) * available)
            rows.append(
                (
                    day,
                    {
                        "hotel_id": hotel_id,
                        "hotel_name": name,
                        "municipality": _BY_ID[municipality_id].name_th,
                        "date": f"{day.isoformat()}T00:00:00",
                        "rooms_available": available,
                        "rooms_occupied": occupied,
                        "occupancy_rate": round(occupied / available, 4),
                    },
                )
            )

    def malformed(record: Record, n: int) -> None:
        if n % 2 == 0:
            record["rooms_occupied"] = "n/a"
        else:
            record["hotel_id"] = None

    def out_of_range(record: Record, n: int) -> None:
        record["occupancy_rate"] = 1.7
        record["rooms_occupied"] = round(record["rooms_available"] * 1.7)

    def unknown_code(record: Record, n: int) -> None:
        record["municipality"] = UNKNOWN_MUNICIPALITY

    return Table(
        package="kk-hotel-occupancy",
        title="อัตราการเข้าพักโรงแรมรายวัน (Daily hotel occupancy)",
        notes="จำนวนห้องพักที่เปิดขายและที่มีผู้เข้าพักรายวันของโรงแรมที่เข้าร่วมโครงการ",
        tags=("hotel", "occupancy", "การท่องเที่ยว"),
        resource_name="hotel-occupancy-daily",
        fields=(
            ("hotel_id", "text"),
            ("hotel_name", "text"),
            ("municipality", "text"),
            ("date", "timestamp"),
            ("rooms_available", "int"),
            ("rooms_occupied", "int"),
            ("occupancy_rate", "numeric"),
        ),
        rows=rows,
        malformed=malformed,
        out_of_range=out_of_range,
        unknown_code=unknown_code,
    )


# site_id, name, operator, municipality, capacity kWp
_SITES = (
    ("SOL-01", "หลังคาสำนักงานเทศบาลนครขอนแก่น", "เทศบาลนครขอนแก่น", "khon_kaen_city", 250.0),
    ("SOL-02", "โซลาร์ลอยน้ำบึงทุ่งสร้าง", "เทศบาลนครขอนแก่น", "khon_kaen_city", 1000.0),
    ("SOL-03", "KKU Faculty of Engineering rooftop", "มหาวิทยาลัยขอนแก่น", "sila", 500.0),
    ("SOL-04", "KKU Science Park solar carport", "มหาวิทยาลัยขอนแก่น", "sila", 800.0),
    ("SOL-05", "หลังคาโรงพยาบาลศรีนครินทร์ มข.", "มหาวิทยาลัยขอนแก่น", "sila", 600.0),
    ("SOL-06", "หลังคาสำนักงานเทศบาลตำบลสำราญ", "เทศบาลตำบลสำราญ", "samran", 120.0),
)
# Peak-sun hours a day in Khon Kaen by month: dry and clear Feb–Apr, cloudy in the monsoon.
_SUN_HOURS = {
    1: 5.0,
    2: 5.4,
    3: 5.6,
    4: 5.7,
    5: 5.2,
    6: 4.6,
    7: 4.3,
    8: 4.2,
    9: 4.4,
    10: 4.8,
    11: 4.9,
    12: 4.8,
}


def solar(clock: Clock, start: date) -> Table:
    dataset = "city.solar"
    rows: list[tuple[date, Record]] = []
    for day in _days(start, clock.last_day):
        for site_id, name, operator, municipality_id, capacity in _SITES:
            g = rng(dataset, site_id, day)
            sky = min(1.1, max(0.35, g.gauss(0.9, 0.15)))
            if g.random() < 0.01:  # an inverter trip: most of the day lost
                sky *= g.uniform(0.0, 0.2)
            kwh = round(capacity * _SUN_HOURS[day.month] * 0.8 * sky, 1)
            rows.append(
                (
                    day,
                    {
                        "site_id": site_id,
                        "site_name": name,
                        "operator": operator,
                        "municipality": _BY_ID[municipality_id].name_th,
                        "capacity_kwp": capacity,
                        "date": be_date(day),
                        "energy_kwh": f"{kwh:,.1f}",
                    },
                )
            )

    def malformed(record: Record, n: int) -> None:
        if n % 2 == 0:
            record["energy_kwh"] = "n/a"
        else:
            record["date"] = None

    def out_of_range(record: Record, n: int) -> None:
        record["energy_kwh"] = f"{record['capacity_kwp'] * 30:,.1f}"  # 30 h at full power

    def unknown_code(record: Record, n: int) -> None:
        record["municipality"] = UNKNOWN_MUNICIPALITY

    return Table(
        package="kk-solar",
        title="พลังงานไฟฟ้าจากโซลาร์เซลล์รายวัน (Daily solar generation by site)",
        notes="พลังงานไฟฟ้าที่ผลิตได้ (kWh) รายวันของระบบผลิตไฟฟ้าพลังงานแสงอาทิตย์ในเขตเทศบาล",
        tags=("solar", "energy", "พลังงาน"),
        resource_name="solar-generation-daily",
        fields=(
            ("site_id", "text"),
            ("site_name", "text"),
            ("operator", "text"),
            ("municipality", "text"),
            ("capacity_kwp", "numeric"),
            ("date", "text"),
            ("energy_kwh", "text"),
        ),
        rows=rows,
        malformed=malformed,
        out_of_range=out_of_range,
        unknown_code=unknown_code,
    )
