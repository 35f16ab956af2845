"""Khon Kaen University health data service: a FHIR R4 server and a legacy research CSV export.

Endpoints
---------
``GET /fhir/MeasureReport``
    FHIR R4 search, answering a ``Bundle`` of type ``searchset`` (``application/fhir+json``) with
    ``total``, ``link`` (``self``, and ``next`` while more pages remain: an absolute URL carrying
    ``_offset``) and ``entry[]`` (``fullUrl``, ``resource``, ``search.mode = match``). Parameters:
    ``_count`` (page size, default 50, at most 1000), ``_lastUpdated`` (``gt``/``ge``/``lt``/``le``/
    ``eq`` + an instant or a date), ``_sort`` (``_lastUpdated`` or ``-_lastUpdated``; the default
    order is ``_lastUpdated`` ascending), ``measure`` (a canonical URL) and ``_offset``. A bad
    parameter is answered ``400`` with an ``OperationOutcome``, as the FHIR search page prescribes.
``GET /exports/ems-dispatch.csv``
    The research export of EMS dispatches over the emulated year: cp874 (``windows-874``), CRLF,
    Thai headers, local times with Buddhist-era years (``25/11/2568 14:03``).

Data
----
Per municipality and day: ``telemedicine-consultations`` and ``ems-calls`` (counts, published at
23:50 local the same day; about one telemedicine report in ten is revised two days later, as
``meta.versionId`` 2 with a new ``meta.lastUpdated``); per municipality and month:
``ehr-coverage`` (patients with an electronic health record / registered patients, published on
the month's last day). Counts follow the population, so the small municipalities have days with
fewer than 5. Count measures carry the count as ``initial-population``, ``numerator`` and
``measureScore``; the proportion carries all three populations. Location ids are FHIR ids, so
``khon_kaen_city`` is ``Location/khon-kaen-city``. The CSV holds one row per dispatched EMS
call: calls come from the same daily seed as ``ems-calls`` and about 85 % of them are dispatched.

Data faults (``emulator.faults.data``)
--------------------------------------
- ``malformed_rows`` (N): per search page, N reports get ``numerator`` ``"n/a"`` or lose their
  ``id``; in the CSV, N rows get ``"n/a"`` as scene-arrival time or an empty incident id.
- ``out_of_range`` (N): per page, N reports with a negative count or a coverage of 1.7; in the CSV,
  N rows arriving on scene 25 minutes before the call.
- ``duplicate_rows`` (N): per page, N entries repeated; in the CSV, N rows written twice.
- ``unknown_codes`` (N): per page, N reports about ``Location/phra-lap`` (not one of the six); in
  the CSV, N rows with priority ``ด่วนมาก`` or municipality ``เทศบาลตำบลพระลับ``.
- ``missing_column`` (str): FHIR: a MeasureReport element (``measureScore``, ``period``, ``id``,
  ...) or a population code (``numerator``) dropped from every report; CSV: a Thai header or its
  English key (``call_time``, ``priority``, ...) dropped with its column.
- ``stale_feed`` (bool): nothing published in the last three days (the feed stopped moving).
- ``bad_encoding`` (N, CSV only): N rows whose hospital name is written in UTF-8, not cp874.
- ``operation_outcome`` (str, FHIR only): every search answers ``400`` with an ``OperationOutcome``
  (severity ``error``) whose diagnostics is this text.

Shapes (``emulator.faults.data["shape"]``, FHIR only; other valid answers than a searchset)
-------------------------------------------------------------------------------------------
- ``searchset`` (default): as above.
- ``collection``: the same pages as a ``collection`` Bundle (no ``total``, no ``entry.search``),
  still with ``self``/``next`` links; a page that holds reports starts with the reporter
  ``Organization`` entry (a resource of another type, which the connector skips).
- ``transaction`` / ``batch``: the same pages as a ``transaction`` / ``batch`` Bundle: every entry
  has ``fullUrl``, ``resource`` and ``request`` (``PUT MeasureReport/<id>``, ``POST MeasureReport``
  for a report without id, ``PUT Organization/kku-hospital`` for the reporter entry first).
- ``resource``: the first report that matches the search, bare (a lone ``MeasureReport``, as an
  ``$evaluate-measure`` answer is), with no Bundle and so no ``next`` link; when nothing matches,
  an empty searchset Bundle. The connector reads all reports by asking again with
  ``_lastUpdated=gt<the last report's lastUpdated>``: one request per report.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from emulators.server import Emulator, Request, Response, json_response
from emulators.synthetic import BANGKOK, BE_OFFSET, MUNICIPALITIES, Clock, Municipality, rng

FHIR_JSON = "application/fhir+json"
MEASURE_BASE = "http://fhir.kku.ac.th/Measure/"
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
UCUM = "http://unitsofmeasure.org"
REPORTER = {"reference": "Organization/kku-hospital", "display": "โรงพยาบาลศรีนครินทร์"}
STALE_DAYS = 3
DEFAULT_COUNT, MAX_COUNT = 50, 1000
SHAPES = ("searchset", "collection", "transaction", "batch")  # and "resource": one bare report

# Expected events per 1,000 inhabitants per day.
_DAILY_RATES = {"telemedicine-consultations": 0.30, "ems-calls": 0.13}
_UNITS = {"telemedicine-consultations": "consultations", "ems-calls": "calls"}
_PREFIX = {"telemedicine-consultations": "tele", "ems-calls": "ems", "ehr-coverage": "ehr"}

PRIORITIES = (("วิกฤต", 0.20, 8.0), ("เร่งด่วน", 0.45, 11.0), ("ไม่เร่งด่วน", 0.35, 16.0))
INCIDENT_TYPES = (
    ("เจ็บป่วยฉุกเฉิน", 0.55),
    ("อุบัติเหตุจราจร", 0.30),
    ("พลัดตกหกล้ม", 0.10),
    ("อื่น ๆ", 0.05),
)
HOSPITALS = {
    "khon_kaen_city": ("โรงพยาบาลขอนแก่น", "โรงพยาบาลศรีนครินทร์", "โรงพยาบาลค่ายศรีพัชรินทร"),
    "sila": ("โรงพยาบาลศรีนครินทร์", "โรงพยาบาลขอนแก่น"),
    "tha_phra": ("โรงพยาบาลขอนแก่น", "โรงพยาบาลค่ายศรีพัชรินทร"),
    "samran": ("โรงพยาบาลศรีนครินทร์", "โรงพยาบาลขอนแก่น"),
    "ban_thum": ("โรงพยาบาลสิรินธร จังหวัดขอนแก่น", "โรงพยาบาลขอนแก่น"),
    "ban_pet": ("โรงพยาบาลขอนแก่น", "โรงพยาบาลสิรินธร จังหวัดขอนแก่น"),
}
# Extra minutes to reach each municipality from the nearest ambulance base.
_TRAVEL = {"khon_kaen_city": 0, "sila": 2, "ban_pet": 3, "samran": 4, "ban_thum": 5, "tha_phra": 6}
CSV_HEADERS = {
    "incident_id": "เลขที่เหตุการณ์",
    "call_time": "วันเวลารับแจ้ง",
    "scene_arrival_time": "วันเวลาถึงที่เกิดเหตุ",
    "municipality": "เทศบาล",
    "incident_type": "ประเภทเหตุ",
    "priority": "ระดับความเร่งด่วน",
    "response_level": "ระดับชุดปฏิบัติการ",
    "hospital": "โรงพยาบาลที่รับผิดชอบ",
}
_UNKNOWN_LOCATION = {"reference": "Location/phra-lap", "display": "เทศบาลตำบลพระลับ"}


def build(clock: Clock, port: int = 0) -> Emulator:
    """The university's FHIR server and CSV export for ``clock``'s year (not started)."""
    data = _Data(clock)

    def search(request: Request) -> Response:
        return _search(data, emulator.faults.data, request)

    def export(request: Request) -> Response:
        return _export(data, emulator.faults.data)

    routes = {r"/fhir/MeasureReport": search, r"/exports/ems-dispatch\.csv": export}
    emulator = Emulator("university", routes, port=port)
    return emulator


# --- synthetic data ---------------------------------------------------------------------------


def _poisson(generator: random.Random, mean: float) -> int:
    if mean > 30:
        return max(0, round(generator.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, generator.random()
    while product > limit:
        k += 1
        product *= generator.random()
    return k


def _seasonal(day: date, measure: str) -> float:
    weekend = day.weekday() >= 5
    if measure == "telemedicine-consultations":
        return 0.4 if weekend else 1.0
    festive = (
        (day.month == 4 and 11 <= day.day <= 17)
        or (day.month, day.day) >= (12, 29)
        or (day.month == 1 and day.day <= 3)
    )
    return (1.15 if weekend else 1.0) * (1.6 if festive else 1.0)


def daily_counts(day: date) -> dict[tuple[str, str], int]:
    """(measure, municipality id) -> count for ``day``; the same whatever the emulated today."""
    generator = rng("university.measures", day.isoformat())
    counts = {}
    for municipality in MUNICIPALITIES:
        for measure, rate in _DAILY_RATES.items():
            mean = municipality.population / 1000 * rate * _seasonal(day, measure)
            counts[measure, municipality.municipality_id] = _poisson(generator, mean)
    return counts


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _location_id(municipality_id: str) -> str:
    return municipality_id.replace("_", "-")


def _population(code: str, count: int) -> dict[str, Any]:
    display = code.replace("-", " ").capitalize()
    return {
        "code": {"coding": [{"system": POPULATION_SYSTEM, "code": code, "display": display}]},
        "count": count,
    }


def _report(
    measure: str,
    municipality: Municipality,
    start: date,
    end: date,
    published: datetime,
    version: int,
    populations: dict[str, int],
    score: dict[str, Any],
) -> dict[str, Any]:
    stamp = _instant(published)
    suffix = start.strftime("%Y%m%d") if start == end else start.strftime("%Y%m")
    return {
        "resourceType": "MeasureReport",
        "id": f"{_PREFIX[measure]}-{_location_id(municipality.municipality_id)}-{suffix}",
        "meta": {"versionId": str(version), "lastUpdated": stamp},
        "status": "complete",
        "type": "summary",
        "measure": MEASURE_BASE + measure,
        "subject": {
            "reference": f"Location/{_location_id(municipality.municipality_id)}",
            "display": municipality.name_th,
        },
        "date": stamp,
        "reporter": dict(REPORTER),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "group": [
            {
                "population": [_population(code, n) for code, n in populations.items()],
                "measureScore": score,
            }
        ],
    }


def _count_report(
    measure: str,
    municipality: Municipality,
    day: date,
    count: int,
    published: datetime,
    version: int,
) -> dict[str, Any]:
    unit = _UNITS[measure]
    score = {"value": count, "unit": unit, "system": UCUM, "code": f"{{{unit}}}"}
    populations = {"initial-population": count, "numerator": count}
    return _report(measure, municipality, day, day, published, version, populations, score)


def _month_end(month: date) -> date:
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _ehr_report(municipality: Municipality, month: date) -> dict[str, Any]:
    generator = rng("university.ehr", month.isoformat(), municipality.municipality_id)
    months = (month.year - 2024) * 12 + month.month - 1  # months since the programme's baseline
    registered = round(municipality.population * 0.82 * (1 + 0.002 * months))
    share = min(0.97, 0.48 + 0.012 * months + generator.uniform(-0.02, 0.02))
    covered = round(registered * share)
    end = _month_end(month)
    index = [m.municipality_id for m in MUNICIPALITIES].index(municipality.municipality_id)
    published = datetime.combine(end, datetime.min.time(), BANGKOK) + timedelta(
        hours=23, minutes=58, seconds=index, milliseconds=generator.randrange(1000)
    )
    score = {"value": round(covered / registered, 4), "unit": "1", "system": UCUM, "code": "1"}
    populations = {
        "initial-population": registered,
        "denominator": registered,
        "numerator": covered,
    }
    return _report("ehr-coverage", municipality, month, end, published, 1, populations, score)


@dataclass(frozen=True)
class _Version:
    published: datetime
    resource: dict[str, Any]


class _Data:
    """Everything the emulator serves, built on first use and cached per publication cut-off."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._lock = threading.Lock()
        self._reports: dict[date, list[dict[str, Any]]] = {}
        self._dispatches: dict[date, list[dict[str, str]]] = {}

    def cutoff(self, stale: bool) -> date:
        return self.clock.today - timedelta(days=STALE_DAYS if stale else 0)

    def reports(self, stale: bool) -> list[dict[str, Any]]:
        """The current version of every report published before the cut-off, oldest first."""
        cutoff = self.cutoff(stale)
        with self._lock:
            if cutoff not in self._reports:
                self._reports[cutoff] = self._build_reports(cutoff)
            return self._reports[cutoff]

    def dispatches(self, stale: bool) -> list[dict[str, str]]:
        cutoff = self.cutoff(stale)
        with self._lock:
            if cutoff not in self._dispatches:
                self._dispatches[cutoff] = [
                    row for day in self.clock.days() if day < cutoff for row in _dispatches(day)
                ]
            return self._dispatches[cutoff]

    def _build_reports(self, cutoff: date) -> list[dict[str, Any]]:
        versions: list[list[_Version]] = []
        for day in self.clock.days():
            if day >= cutoff:
                break
            versions.extend(_daily_versions(day))
            if day == _month_end(day):
                for municipality in MUNICIPALITIES:
                    report = _ehr_report(municipality, day.replace(day=1))
                    published = datetime.fromisoformat(report["meta"]["lastUpdated"])
                    versions.append([_Version(published, report)])
        served = []
        for history in versions:
            current = [v for v in history if v.published.date() < cutoff]
            if current:
                served.append(current[-1])
        served.sort(key=lambda v: v.published)
        return [v.resource for v in served]


def _daily_versions(day: date) -> list[list[_Version]]:
    counts = daily_counts(day)
    generator = rng("university.measures.publication", day.isoformat())
    closing = datetime.combine(day, datetime.min.time(), BANGKOK) + timedelta(hours=23, minutes=50)
    histories = []
    index = 0
    for municipality in MUNICIPALITIES:
        for measure in _DAILY_RATES:
            count = counts[measure, municipality.municipality_id]
            published = closing + timedelta(seconds=index, milliseconds=generator.randrange(1000))
            index += 1
            history = [
                _Version(published, _count_report(measure, municipality, day, count, published, 1))
            ]
            if measure == "telemedicine-consultations" and generator.random() < 0.1:
                revised = published + timedelta(days=2, minutes=2)
                late = count + generator.randint(1, 3)
                history.append(
                    _Version(revised, _count_report(measure, municipality, day, late, revised, 2))
                )
            histories.append(history)
    return histories


def _pick(generator: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return generator.choices(weighted, weights=[item[1] for item in weighted])[0]


def _be_text(moment: datetime) -> str:
    return f"{moment.day:02d}/{moment.month:02d}/{moment.year + BE_OFFSET} {moment:%H:%M}"


def _dispatches(day: date) -> list[dict[str, str]]:
    """EMS dispatches of ``day`` in call order, as the export writes them (keys of CSV_HEADERS)."""
    counts = daily_counts(day)
    generator = rng("university.research_csv", day.isoformat())
    calls = []
    for municipality in MUNICIPALITIES:
        for _ in range(counts["ems-calls", municipality.municipality_id]):
            # Calls cluster in the late afternoon and evening.
            minute = int(generator.triangular(0, 24 * 60 - 1, 18 * 60)) % (24 * 60)
            dispatched = generator.random() < 0.85
            calls.append((minute, municipality, dispatched, generator.random()))
    calls.sort(key=lambda call: call[0])
    rows = []
    for minute, municipality, dispatched, spelling in calls:
        if not dispatched:
            continue
        priority, _, base_minutes = _pick(generator, PRIORITIES)
        incident_type = _pick(generator, INCIDENT_TYPES)[0]
        travel = base_minutes + _TRAVEL[municipality.municipality_id]
        response = max(3, round(travel * generator.lognormvariate(0, 0.35)))
        called = datetime.combine(day, datetime.min.time(), BANGKOK) + timedelta(minutes=minute)
        level = {"วิกฤต": "ALS", "เร่งด่วน": generator.choice(("ALS", "BLS"))}.get(
            priority, generator.choice(("BLS", "FR"))
        )
        rows.append(
            {
                "incident_id": f"EMS{day.year + BE_OFFSET}-{day:%m%d}-{len(rows) + 1:04d}",
                "call_time": _be_text(called),
                "scene_arrival_time": _be_text(called + timedelta(minutes=response)),
                "municipality": municipality.name_th_variant
                if spelling < 0.1
                else municipality.name_th,
                "incident_type": incident_type,
                "priority": priority,
                "response_level": level,
                "hospital": generator.choice(HOSPITALS[municipality.municipality_id]),
            }
        )
    return rows


# --- FHIR search ----------------------------------------------------------------------------

_PREFIXED = re.compile(r"(gt|ge|lt|le|eq)?(\d{4}-\d{2}-\d{2}(?:T.+)?)")
_COMPARE: dict[str, Callable[[datetime, datetime], bool]] = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
}


class _BadRequest(ValueError):
    pass


def _outcome(text: str, status: int = 400, code: str = "invalid") -> Response:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    return json_response(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status=status,
        content_type=FHIR_JSON,
    )


def _instant_param(value: str) -> tuple[str, datetime]:
    match = _PREFIXED.fullmatch(value.strip())
    if not match:
        raise _BadRequest(f"Invalid _lastUpdated value {value!r}")
    text = match.group(2).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"Invalid _lastUpdated instant {match.group(2)!r}") from None
    if moment.tzinfo is None:  # a date, or a time without offset: local time
        moment = moment.replace(tzinfo=BANGKOK)
    return match.group(1) or "eq", moment


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise _BadRequest(f"Parameter {name} must be a non-negative integer, got {value!r}")
    return int(value)


def _search(data: _Data, faults: dict[str, Any], request: Request) -> Response:
    if faults.get("operation_outcome"):
        return _outcome(str(faults["operation_outcome"]), code="processing")
    try:
        count = min(_int_param(request, "_count", DEFAULT_COUNT), MAX_COUNT)
        offset = _int_param(request, "_offset", 0)
        reports = data.reports(bool(faults.get("stale_feed")))
        if "_lastUpdated" in request.query:
            prefix, bound = _instant_param(request.query["_lastUpdated"])
            compare = _COMPARE[prefix]
            reports = [
                r
                for r in reports
                if compare(datetime.fromisoformat(r["meta"]["lastUpdated"]), bound)
            ]
        if request.query.get("measure"):
            reports = [r for r in reports if r["measure"] == request.query["measure"]]
        sort = request.query.get("_sort", "_lastUpdated")
        if sort not in {"_lastUpdated", "-_lastUpdated"}:
            raise _BadRequest(f"Unsupported _sort {sort!r}: only _lastUpdated is supported")
    except _BadRequest as error:
        return _outcome(str(error))
    if sort.startswith("-"):
        reports = reports[::-1]
    query = {k: v for k, v in request.query.items() if k != "_offset"}
    query["_count"] = str(count)
    links = [
        {"relation": "self", "url": request.url_for(request.path, {**query, "_offset": offset})}
    ]
    if count and offset + count < len(reports):
        next_query = {**query, "_offset": offset + count}
        links.append({"relation": "next", "url": request.url_for(request.path, next_query)})
    shape = faults.get("shape") or "searchset"
    if shape == "resource":
        count = min(count, 1)
    page = [copy.deepcopy(r) for r in reports[offset : offset + count]] if count else []
    page = _damage_reports(page, faults, offset)
    if shape == "resource":
        return _lone_report(page)
    if shape not in SHAPES:
        return _outcome(
            f"unknown emulator shape {shape!r}: use one of {', '.join(SHAPES)}, resource"
        )
    bundle = {
        "resourceType": "Bundle",
        "type": shape,
        "link": links,
        "entry": [_entry(request, shape, r, i) for i, r in enumerate(page)],
    }
    if shape == "searchset":  # bdl-1: total only in a search (or history) Bundle
        bundle["total"] = len(reports)
    elif page:  # the reporter travels with the reports, as a collection or a write would carry it
        bundle["entry"].insert(0, _reporter_entry(request, shape))
    return json_response(bundle, content_type=FHIR_JSON)


def _full_url(request: Request, report: dict[str, Any], index: int) -> str:
    if "id" in report:
        return request.url_for(f"/fhir/MeasureReport/{report['id']}")
    return f"urn:uuid:00000000-0000-4000-8000-{index:012d}"


def _entry(request: Request, shape: str, report: dict[str, Any], index: int) -> dict[str, Any]:
    """One Bundle entry of ``shape``: ``search`` only in a searchset (bdl-2), ``request`` only in
    a transaction or batch (bdl-3)."""
    entry: dict[str, Any] = {"fullUrl": _full_url(request, report, index), "resource": report}
    if shape == "searchset":
        entry["search"] = {"mode": "match"}
    elif shape in {"transaction", "batch"}:
        if "id" in report:
            entry["request"] = {"method": "PUT", "url": f"MeasureReport/{report['id']}"}
        else:
            entry["request"] = {"method": "POST", "url": "MeasureReport"}
    return entry


def _reporter_entry(request: Request, shape: str) -> dict[str, Any]:
    organization = {
        "resourceType": "Organization",
        "id": REPORTER["reference"].split("/")[1],
        "name": REPORTER["display"],
    }
    entry = {"fullUrl": request.url_for(f"/fhir/{REPORTER['reference']}"), "resource": organization}
    if shape in {"transaction", "batch"}:
        entry["request"] = {"method": "PUT", "url": REPORTER["reference"]}
    return entry


def _lone_report(page: list[dict[str, Any]]) -> Response:
    """The first report of the page, bare; an empty searchset Bundle when there is none."""
    if page:
        return json_response(page[0], content_type=FHIR_JSON)
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}
    return json_response(empty, content_type=FHIR_JSON)


def _positions(faults: dict[str, Any], kind: str, size: int, salt: object) -> list[int]:
    wanted = min(int(faults.get(kind) or 0), size)
    return (
        sorted(rng("university.faults", kind, salt).sample(range(size), wanted)) if wanted else []
    )


def _population_of(report: dict[str, Any], code: str) -> dict[str, Any]:
    for population in report["group"][0]["population"]:
        if population["code"]["coding"][0]["code"] == code:
            return population
    raise KeyError(code)


def _damage_reports(
    page: list[dict[str, Any]], faults: dict[str, Any], offset: int
) -> list[dict[str, Any]]:
    """Apply the data faults to one page of (already copied) reports."""
    for n, i in enumerate(_positions(faults, "malformed_rows", len(page), offset)):
        if n % 2 == 0:
            _population_of(page[i], "numerator")["count"] = "n/a"
        else:
            del page[i]["id"]
    for i in _positions(faults, "out_of_range", len(page), offset):
        report, group = page[i], page[i]["group"][0]
        if report["measure"].endswith("ehr-coverage"):
            denominator = _population_of(report, "denominator")["count"]
            _population_of(report, "numerator")["count"] = round(denominator * 1.7)
            group["measureScore"]["value"] = 1.7
        else:
            for population in group["population"]:
                population["count"] = -3
            group["measureScore"]["value"] = -3
    for i in _positions(faults, "unknown_codes", len(page), offset):
        page[i]["subject"] = dict(_UNKNOWN_LOCATION)
    missing = faults.get("missing_column")
    if missing:
        for report in page:
            group = report["group"][0]
            if missing in report:
                del report[missing]
            elif missing in group:
                del group[missing]
            else:
                group["population"] = [
                    p for p in group["population"] if p["code"]["coding"][0]["code"] != missing
                ]
    duplicates = [
        copy.deepcopy(page[i]) for i in _positions(faults, "duplicate_rows", len(page), offset)
    ]
    return page + duplicates


# --- CSV export -------------------------------------------------------------------------------

_BAD_TOKEN = "\x00BAD\x00"


def _export(data: _Data, faults: dict[str, Any]) -> Response:
    rows = [dict(row) for row in data.dispatches(bool(faults.get("stale_feed")))]
    for n, i in enumerate(_positions(faults, "malformed_rows", len(rows), "csv")):
        rows[i]["scene_arrival_time" if n % 2 == 0 else "incident_id"] = "n/a" if n % 2 == 0 else ""
    for i in _positions(faults, "out_of_range", len(rows), "csv"):
        called = _parse_be(rows[i]["call_time"])
        rows[i]["scene_arrival_time"] = _be_text(called - timedelta(minutes=25))
    for n, i in enumerate(_positions(faults, "unknown_codes", len(rows), "csv")):
        if n % 2 == 0:
            rows[i]["priority"] = "ด่วนมาก"
        else:
            rows[i]["municipality"] = "เทศบาลตำบลพระลับ"
    bad = set(_positions(faults, "bad_encoding", len(rows), "csv"))
    duplicated = set(_positions(faults, "duplicate_rows", len(rows), "csv"))
    columns = list(CSV_HEADERS)
    missing = faults.get("missing_column")
    if missing:
        columns = [c for c in columns if missing not in (c, CSV_HEADERS[c])]
    lines = [_csv_line([CSV_HEADERS[c] for c in columns]).encode("cp874")]
    for i, row in enumerate(rows):
        line = _csv_line([_BAD_TOKEN if i in bad and c == "hospital" else row[c] for c in columns])
        # A row pasted from a UTF-8 system: its Thai bytes are not valid cp874.
        encoded = line.encode("cp874").replace(_BAD_TOKEN.encode(), row["hospital"].encode("utf-8"))
        lines.extend([encoded] * (2 if i in duplicated else 1))
    body = b"".join(lines)
    return Response(
        body=body,
        content_type="text/csv; charset=windows-874",
        headers={"Content-Disposition": 'attachment; filename="ems-dispatch.csv"'},
    )


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()


def _parse_be(text: str) -> datetime:
    day, month, rest = text.split("/")
    year, clock = rest.split(" ")
    hour, minute = clock.split(":")
    return datetime(
        int(year) - BE_OFFSET, int(month), int(day), int(hour), int(minute), tzinfo=BANGKOK
    )
