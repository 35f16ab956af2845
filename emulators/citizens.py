"""The citizens' complaint channel "you-pee" (อยู่พี่), served as Open311 GeoReport v2 (JSON, XML).

Endpoints (all on 127.0.0.1):

- ``GET /open311/v2/services.json``: the eight complaint types (``service_code``, Thai
  ``service_name``, English ``description``, ``metadata`` false, ``type`` realtime, ``keywords``,
  ``group``).
- ``GET /open311/v2/requests.json?start_date=&end_date=&status=&service_code=&page=&page_size=``:
  the tickets whose ``requested_datetime`` lies in ``[start_date, end_date]`` (both inclusive, W3C
  datetimes with an offset), each as it stands at the emulated now, ordered by
  ``requested_datetime`` then ``service_request_id``. ``status`` and ``service_code`` take
  comma-separated lists. ``page`` (from 1) and ``page_size`` (1–1000, default 100) are the paging
  extension many GeoReport servers add; a page past the end answers ``[]``. Without dates the
  window is the 90 days up to now. A bad parameter, or a window longer than 90 days, answers 400
  with the GeoReport error array ``[{"code": 400, "description": "..."}]``.
- ``GET /open311/v2/requests.xml`` with the same parameters: the same rows as GeoReport XML,
  ``<?xml version="1.0" encoding="utf-8"?><service_requests><request>...</request>...``, one
  child element per field in the JSON order (a null field is an empty element; a field the
  ``missing_column`` fault drops is absent); an empty window is ``<service_requests/>``. Errors are
  ``<errors><error><code>400</code><description>...</description></error></errors>``.

The extension chooses the format, unless the ``shape`` data knob says otherwise:
``emulator.faults.data["shape"]`` = ``"json"`` or ``"xml"`` answers every ``requests`` call in that
format whatever its extension (a server that speaks only XML, the format GeoReport requires, or
only JSON); unset (the default), each extension gets its own format.

The emulated now is the start of ``clock.today`` (midnight, Asia/Bangkok), so the feed only holds
finished days. About 20 tickets are filed a day across the six municipalities; each ticket's
lifecycle (received, forwarded, closed, sometimes reopened and closed again, rarely never closed)
comes from an RNG seeded by its day, and the feed shows the last state reached by now. The
``agency_responsible`` is the municipality's Thai name; ``expected_datetime`` is the request time
plus the service's target days. Descriptions are free Thai text that sometimes carries a name, a
phone number and a 13-digit national ID, as people write them.

Data faults honoured (``emulator.faults.data``), applied to the first rows of every response:

- ``malformed_rows`` (int N): N rows with ``lat`` "n/a", a ``requested_datetime`` written
  "25/11/2569 08:15", no ``service_request_id``, or ``long`` "ไม่ทราบ" (in rotation);
- ``out_of_range`` (int N): N rows placed in Bangkok (outside Khon Kaen province), or updated
  two hours before they were requested (in rotation);
- ``duplicate_rows`` (int N): N rows sent twice (same ``service_request_id``, ``updated_datetime``);
- ``unknown_codes`` (int N): N rows with ``status`` "in_progress" or ``service_code`` "999";
- ``missing_column`` (str): that field dropped from every row;
- ``stale_feed`` (bool): the channel stopped delivering three days before now: no ticket filed
  after that, and no state reached after that.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from emulators.server import Emulator, Request, Response, json_response
from emulators.synthetic import BANGKOK, MUNICIPALITIES, Clock, Municipality, jitter, rng

DATASET = "citizens.requests"
MAX_WINDOW = timedelta(days=90)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
STALE_AFTER = timedelta(days=3)
MEDIA_BASE = "https://media.youpee.example/requests"


@dataclass(frozen=True)
class Service:
    code: str
    name_th: str
    name_en: str
    group: str
    keywords: str
    target_days: int
    department: str
    complaints: tuple[str, ...]


SERVICES: tuple[Service, ...] = (
    Service(
        "101",
        "ขยะตกค้าง/ความสะอาด",
        "Uncollected garbage and street cleanliness",
        "สิ่งแวดล้อม",
        "ขยะ,เก็บขยะ,ความสะอาด,garbage",
        3,
        "กองสาธารณสุขและสิ่งแวดล้อม",
        (
            "ขยะไม่ได้เก็บมา {n} วันแล้ว ส่งกลิ่นเหม็นมากค่ะ บริเวณ{place}",
            "ถังขยะหน้า{place}ล้น สุนัขมาคุ้ยกระจายเต็มถนน",
        ),
    ),
    Service(
        "102",
        "ไฟฟ้าส่องสว่างชำรุด",
        "Broken street light",
        "โครงสร้างพื้นฐาน",
        "ไฟทาง,ไฟดับ,เสาไฟ,streetlight",
        5,
        "กองช่าง",
        (
            "ไฟทางดับ {n} ต้น แถว{place} มืดมาก อันตรายตอนกลางคืน",
            "เสาไฟฟ้าส่องสว่างหน้า{place} กระพริบทั้งคืนครับ",
        ),
    ),
    Service(
        "103",
        "น้ำท่วมขัง/ท่อระบายน้ำอุดตัน",
        "Flooding and blocked drains",
        "โครงสร้างพื้นฐาน",
        "น้ำท่วม,ท่อระบายน้ำ,flooding",
        3,
        "กองช่าง",
        (
            "ฝนตกแล้วน้ำท่วมขังหน้า{place} สูงประมาณ {n}0 ซม. รถเล็กผ่านไม่ได้",
            "ท่อระบายน้ำอุดตัน น้ำเน่าขังบริเวณ{place}",
        ),
    ),
    Service(
        "104",
        "ถนนชำรุด",
        "Road damage and potholes",
        "โครงสร้างพื้นฐาน",
        "ถนน,หลุม,ทางเท้า,road",
        10,
        "กองช่าง",
        ("ถนนเป็นหลุมใหญ่หน้า{place} รถจักรยานยนต์ล้มไปแล้ว {n} คัน", "ผิวถนนทรุดตัวบริเวณ{place} ขอให้มาซ่อมด่วน"),
    ),
    Service(
        "105",
        "เหตุเดือดร้อนรำคาญ/เสียงดัง",
        "Noise and nuisance",
        "ความสงบเรียบร้อย",
        "เสียงดัง,เหตุรำคาญ,noise",
        7,
        "ฝ่ายเทศกิจ",
        (
            "ร้านหน้า{place} เปิดเพลงเสียงดังเกินเที่ยงคืนทุกคืน",
            "มีการก่อสร้างตอนกลางคืนแถว{place} เสียงดังรบกวนการนอน",
        ),
    ),
    Service(
        "106",
        "สุนัขจรจัด",
        "Stray dogs",
        "สาธารณสุข",
        "สุนัข,หมาจร,stray dogs",
        10,
        "กองสาธารณสุขและสิ่งแวดล้อม",
        ("สุนัขจรจัด {n} ตัว ไล่กัดเด็กนักเรียนแถว{place}", "มีหมาจรมาอยู่หน้า{place} หลายตัว กลัวเป็นโรคพิษสุนัขบ้า"),
    ),
    Service(
        "107",
        "น้ำประปาไม่ไหล/ท่อแตก",
        "Water supply outage or burst pipe",
        "สาธารณูปโภค",
        "ประปา,น้ำไม่ไหล,ท่อแตก,water",
        2,
        "การประปาเทศบาล",
        ("น้ำประปาไม่ไหลมา {n} วันแล้ว บริเวณ{place}", "ท่อประปาแตกหน้า{place} น้ำไหลนองถนน"),
    ),
    Service(
        "108",
        "ฝุ่นควัน/การเผาในที่โล่ง",
        "Smoke, dust and open burning",
        "สิ่งแวดล้อม",
        "ฝุ่น,PM2.5,เผา,air quality",
        5,
        "กองสาธารณสุขและสิ่งแวดล้อม",
        ("มีการเผาขยะในที่โล่งแถว{place} ควันเข้าบ้านทุกเย็น", "ฝุ่นจากไซต์ก่อสร้างหน้า{place} หนามาก เด็กไอ"),
    ),
)

# Per municipality: tambon, zipcode, a few roads (synthetic, good enough for addresses).
_PLACES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "khon_kaen_city": ("ในเมือง", "40000", ("มิตรภาพ", "ศรีจันทร์", "กลางเมือง", "หน้าเมือง")),
    "sila": ("ศิลา", "40000", ("มิตรภาพ", "เลี่ยงเมือง")),
    "tha_phra": ("ท่าพระ", "40260", ("มิตรภาพ", "ท่าพระ-โกสุมพิสัย")),
    "samran": ("สำราญ", "40000", ("มิตรภาพ", "สำราญ-โนนท่อน")),
    "ban_thum": ("บ้านทุ่ม", "40000", ("มะลิวัลย์", "บ้านทุ่ม-ดอนหัน")),
    "ban_pet": ("บ้านเป็ด", "40000", ("มะลิวัลย์", "บ้านเป็ด")),
}
_LANDMARKS = ("ตลาดสด", "โรงเรียน", "วัด", "ร้านสะดวกซื้อ", "หมู่บ้านจัดสรร", "ป้ายรถเมล์", "หอพัก")
_NAMES = (
    "สมชาย ใจดี",
    "สมศรี มีสุข",
    "วิไลวรรณ ศรีสุวรรณ",
    "ประเสริฐ แก้วมณี",
    "นงลักษณ์ พลอยงาม",
    "อนุชา บุญมา",
    "กัญญา ทองดี",
    "ธนากร ศรีภูมิ",
)
_TITLES = ("นาย", "นาง", "นางสาว", "")
_HOURS = tuple(range(6, 23))
_HOUR_WEIGHTS = (2, 5, 8, 9, 8, 7, 6, 6, 6, 6, 6, 7, 7, 6, 5, 3, 2)


@dataclass(frozen=True)
class Ticket:
    fields: dict[str, Any]
    events: tuple[tuple[datetime, str, str], ...]  # (time, status, status note), in time order

    @property
    def requested(self) -> datetime:
        return self.events[0][0]

    def state(self, as_of: datetime) -> dict[str, Any]:
        moment, status, note = [e for e in self.events if e[0] <= as_of][-1]
        return {
            **self.fields,
            "status": status,
            "status_notes": note,
            "updated_datetime": _w3c(moment),
        }


def _w3c(moment: datetime) -> str:
    return moment.astimezone(BANGKOK).isoformat(timespec="seconds")


def _phone(r: random.Random) -> str:
    digits = f"0{r.choice('689')}{r.randrange(10)}{r.randrange(10_000_000):07d}"
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if r.random() < 0.7 else digits


def _national_id(r: random.Random) -> str:
    body = [r.choice((1, 3))] + [r.randrange(10) for _ in range(11)]
    check = (11 - sum(d * (13 - i) for i, d in enumerate(body)) % 11) % 10
    return "".join(map(str, [*body, check]))


def _contact(r: random.Random) -> str:
    name = f"{r.choice(_TITLES)}{r.choice(_NAMES)}"
    roll = r.random()
    if roll < 0.4:
        return f" ติดต่อกลับ {_phone(r)}"
    if roll < 0.85:
        return f" แจ้งโดย {name} โทร {_phone(r)}"
    return f" ผู้แจ้ง {name} เลขบัตรประชาชน {_national_id(r)} เบอร์ {_phone(r)}"


def _service_weights(day: date) -> list[float]:
    rainy = 5 <= day.month <= 10
    dry_smoke = day.month in (1, 2, 3, 4, 12)
    return [
        {
            "101": 6,
            "102": 4,
            "103": 5 if rainy else 1,
            "104": 3,
            "105": 3,
            "106": 3,
            "107": 2,
            "108": 4 if dry_smoke else 1,
        }[s.code]
        for s in SERVICES
    ]


def _lifecycle(r: random.Random, requested: datetime, service: Service) -> list[tuple]:
    forwarded = requested + timedelta(hours=r.uniform(0.5, 20))
    events = [
        (requested, "open", "รับเรื่องแล้ว รอตรวจสอบ"),
        (forwarded, "open", f"ส่งเรื่องให้{service.department}ดำเนินการแล้ว"),
    ]
    if r.random() < 0.03:  # stuck: never closed
        return events
    days = min(r.lognormvariate(0, 0.6) * service.target_days * 0.4, service.target_days * 2.5)
    closed = forwarded + timedelta(days=days)
    events.append((closed, "closed", "ดำเนินการแก้ไขเรียบร้อยแล้ว"))
    if r.random() < 0.06:
        reopened = closed + timedelta(days=r.uniform(0.5, 5))
        events.append((reopened, "open", "เปิดเรื่องอีกครั้ง: ผู้แจ้งแจ้งว่าปัญหายังไม่ได้รับการแก้ไข"))
        if r.random() < 0.8:
            events.append(
                (reopened + timedelta(days=r.uniform(1, 7)), "closed", "แก้ไขเพิ่มเติมเรียบร้อยแล้ว")
            )
    return events


def _pick_municipality(r: random.Random) -> Municipality:
    weights = [
        m.population * (1.2 if m.municipality_id == "khon_kaen_city" else 1.0)
        for m in MUNICIPALITIES
    ]
    return r.choices(MUNICIPALITIES, weights)[0]


@functools.lru_cache(maxsize=1024)
def tickets_of(day: date) -> tuple[Ticket, ...]:
    """The tickets filed on one local day, with their whole lifecycle; the same for every clock."""
    r = rng(DATASET, day.isoformat())
    count = max(5, round(r.gauss(20, 4)))
    times = sorted(
        datetime(
            day.year,
            day.month,
            day.day,
            r.choices(_HOURS, _HOUR_WEIGHTS)[0],
            r.randrange(60),
            r.randrange(60),
            tzinfo=BANGKOK,
        )
        for _ in range(count)
    )
    tickets = []
    for number, requested in enumerate(times, start=1):
        service = r.choices(SERVICES, _service_weights(day))[0]
        town = _pick_municipality(r)
        tambon, zipcode, roads = _PLACES[town.municipality_id]
        place = f"{r.choice(_LANDMARKS)} ถนน{r.choice(roads)}"
        description = r.choice(service.complaints).format(n=r.randint(2, 5), place=place)
        if r.random() < 0.3:
            description += _contact(r)
        request_id = f"YP-{day:%Y%m%d}-{number:03d}"
        fields = {
            "service_request_id": request_id,
            "service_name": service.name_th,
            "service_code": service.code,
            "description": description,
            "agency_responsible": town.name_th,
            "service_notice": f"ระยะเวลาดำเนินการประมาณ {service.target_days} วัน",
            "requested_datetime": _w3c(requested),
            "expected_datetime": _w3c(requested + timedelta(days=service.target_days)),
            "address": f"{r.randint(1, 399)}/{r.randint(1, 30)} ถนน{r.choice(roads)} "
            f"ต.{tambon} อ.เมืองขอนแก่น จ.ขอนแก่น {zipcode}",
            "address_id": None,
            "zipcode": zipcode,
            "lat": round(jitter(r, town.lat, 0.02), 6),
            "long": round(jitter(r, town.lon, 0.02), 6),
            "media_url": f"{MEDIA_BASE}/{request_id}.jpg" if r.random() < 0.4 else None,
        }
        tickets.append(Ticket(fields, tuple(_lifecycle(r, requested, service))))
    return tuple(tickets)


class _BadRequest(ValueError):
    pass


def _instant(query: dict[str, str], name: str) -> datetime | None:
    text = query.get(name, "").strip().replace(" ", "+")  # a raw '+' arrives decoded as a space
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest(f"{name}: {text!r} is not a W3C datetime") from None
    if moment.tzinfo is None:
        raise _BadRequest(f"{name}: {text!r} has no UTC offset")
    return moment


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name) or default)
    except ValueError:
        raise _BadRequest(f"{name}: not an integer") from None
    if not low <= value <= high:
        raise _BadRequest(f"{name}: must be between {low} and {high}")
    return value


def _apply_faults(rows: list[dict[str, Any]], faults: dict[str, Any]) -> list[dict[str, Any]]:
    for i, row in enumerate(rows[: int(faults.get("malformed_rows", 0))]):
        variant = i % 4
        if variant == 0:
            row["lat"] = "n/a"
        elif variant == 1:
            moment = datetime.fromisoformat(row["requested_datetime"])
            row["requested_datetime"] = f"{moment:%d/%m}/{moment.year + 543} {moment:%H:%M}"
        elif variant == 2:
            del row["service_request_id"]
        else:
            row["long"] = "ไม่ทราบ"
    for i, row in enumerate(rows[: int(faults.get("out_of_range", 0))]):
        if i % 2 == 0:
            row["lat"], row["long"] = 13.7563, 100.5018  # Bangkok
        else:
            requested = datetime.fromisoformat(row["requested_datetime"])
            row["updated_datetime"] = _w3c(requested - timedelta(hours=2))
    for i, row in enumerate(rows[: int(faults.get("unknown_codes", 0))]):
        if i % 2 == 0:
            row["status"] = "in_progress"
        else:
            row["service_code"] = "999"
    duplicates = [dict(row) for row in rows[: int(faults.get("duplicate_rows", 0))]]
    rows.extend(duplicates)
    if missing := faults.get("missing_column"):
        for row in rows:
            row.pop(missing, None)
    return rows


def _answer(
    request: Request, faults: dict[str, Any], rows: list[dict[str, Any]], status: int = 200
) -> Response:
    """``rows`` (requests, or GeoReport errors when ``status`` is not 200) in the format the
    ``shape`` knob, or else the path's extension, asks for."""
    form = faults.get("shape") or (request.match.group(1) if request.match else "json")
    if form == "json":
        return json_response(rows, status=status)
    if form != "xml":
        return json_response([{"code": 400, "description": f"unknown shape {form!r}"}], 400)
    root, child = ("service_requests", "request") if status == 200 else ("errors", "error")
    body = "".join(f"<{child}>{_xml_fields(row)}</{child}>" for row in rows)
    document = f'<?xml version="1.0" encoding="utf-8"?>\n<{root}>{body}</{root}>\n'
    if not rows:
        document = f'<?xml version="1.0" encoding="utf-8"?>\n<{root}/>\n'
    return Response(
        status=status, body=document.encode("utf-8"), content_type="text/xml; charset=utf-8"
    )


def _xml_fields(row: dict[str, Any]) -> str:
    parts = []
    for name, value in row.items():
        if value is None:
            parts.append(f"<{name}/>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    return "".join(parts)


def build(clock: Clock, port: int = 0) -> Emulator:
    """The you-pee GeoReport v2 server for ``clock`` (not started)."""
    now = clock.local(clock.today)
    emulator: Emulator

    def services(_: Request) -> Response:
        return json_response(
            [
                {
                    "service_code": s.code,
                    "service_name": s.name_th,
                    "description": s.name_en,
                    "metadata": False,
                    "type": "realtime",
                    "keywords": s.keywords,
                    "group": s.group,
                }
                for s in SERVICES
            ]
        )

    def requests(request: Request) -> Response:
        faults = emulator.faults.data
        as_of = now - STALE_AFTER if faults.get("stale_feed") else now
        query = dict(request.query)
        try:
            start, end = _instant(query, "start_date"), _instant(query, "end_date")
            end = end or (start + MAX_WINDOW if start else now)
            start = start or end - MAX_WINDOW
            if start > end:
                raise _BadRequest("start_date is after end_date")
            if end - start > MAX_WINDOW:
                raise _BadRequest("the date range may not span more than 90 days")
            statuses = {s for s in query.get("status", "").split(",") if s}
            if statuses - {"open", "closed"}:
                raise _BadRequest("status: must be open or closed")
            codes = {c for c in query.get("service_code", "").split(",") if c}
            page = _int(query, "page", 1, 1, 1_000_000)
            size = _int(query, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        except _BadRequest as error:
            return _answer(request, faults, [{"code": 400, "description": str(error)}], 400)
        first = max(start.astimezone(BANGKOK).date(), clock.first_day)
        last = min(end.astimezone(BANGKOK).date(), clock.last_day)
        selected = []
        day = first
        while day <= last:
            for ticket in tickets_of(day):
                if start <= ticket.requested <= end and ticket.requested <= as_of:
                    row = ticket.state(as_of)
                    if (not statuses or row["status"] in statuses) and (
                        not codes or row["service_code"] in codes
                    ):
                        selected.append(row)
            day += timedelta(days=1)
        rows = selected[(page - 1) * size : page * size]
        return _answer(request, faults, _apply_faults(rows, faults))

    emulator = Emulator(
        "citizens",
        {
            r"/open311/v2/services\.json": services,
            r"/open311/v2/requests\.(json|xml)": requests,
        },
        port=port,
    )
    return emulator
