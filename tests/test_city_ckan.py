"""The city's CKAN portal: shared CKAN extract/parse, the four connectors, and the emulator."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from types import ModuleType
from typing import Any

import httpx
import pytest

from connectors import city_hotel_occupancy, city_mice_events, city_population, city_solar
from connectors.base import ROW, Page, Parsed, ParseError, Source, SourceError
from connectors.http import make_client
from emulators.city import build, history_start
from emulators.server import Emulator
from emulators.synthetic import MUNICIPALITIES, Clock

CLOCK = Clock(date(2026, 11, 26), history_days=30)
CONNECTORS = (city_population, city_mice_events, city_hotel_occupancy, city_solar)
THAI_NAMES = {m.name_th for m in MUNICIPALITIES} | {m.name_th_variant for m in MUNICIPALITIES}
RESOURCE = "res-solar"


# --------------------------------------------------------------------------------------------
# Unit tests: a hand-written portal behind httpx.MockTransport


def _solar_record(n: int, day: int = 1, kwh: str = "1,234.5") -> dict[str, Any]:
    return {
        "_id": n,
        "site_id": f"SOL-{n:02d}",
        "site_name": "หลังคาสำนักงานเทศบาล",
        "operator": "เทศบาลนครขอนแก่น",
        "municipality": "เทศบาลนครขอนแก่น",
        "capacity_kwp": 250,
        "date": f"{day:02d}/11/2569",
        "energy_kwh": kwh,
    }


SOLAR_FIELDS = [{"id": "_id", "type": "int"}] + [
    {"id": name, "type": "text"} for name in city_solar.FIELDS if name != "_id"
]


def _envelope(result: Any, success: bool = True) -> dict[str, Any]:
    key = "result" if success else "error"
    return {"help": "http://portal/api/3/action/help_show", "success": success, key: result}


def _search_answer(records: list[dict[str, Any]], total: int | None = None) -> bytes:
    result = {"fields": SOLAR_FIELDS, "records": records, "total": total}
    return json.dumps(_envelope(result), ensure_ascii=False).encode()


class FakePortal:
    """A CKAN portal holding one table, recording the requests it answers."""

    def __init__(self, rows: int):
        self.table = [_solar_record(n, day=1 + n % 28) for n in range(1, rows + 1)]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = request.url.params
        if request.url.path == "/api/3/action/package_show":
            if query["id"] != "kk-solar":
                body = _envelope({"__type": "Not Found Error", "message": "Not found"}, False)
                return httpx.Response(404, json=body)
            resources = [
                {"id": "res-pdf", "name": "data-dictionary", "datastore_active": False},
                {"id": RESOURCE, "name": "solar-generation-daily", "datastore_active": True},
            ]
            return httpx.Response(200, json=_envelope({"name": "kk-solar", "resources": resources}))
        assert request.url.path == "/api/3/action/datastore_search"
        assert query["resource_id"] == RESOURCE
        offset, limit = int(query["offset"]), int(query["limit"])
        records = self.table[offset : offset + limit]
        return httpx.Response(200, content=_search_answer(records, len(self.table)))

    def searches(self) -> list[httpx.QueryParams]:
        return [r.url.params for r in self.requests if r.url.path.endswith("datastore_search")]


def _extract(portal: FakePortal, watermark: str | None, **options: Any) -> list[Page]:
    source = Source(
        dataset="city.solar", url="http://portal", page_size=4, backoff_seconds=0, options=options
    )
    with make_client(source, transport=httpx.MockTransport(portal)) as client:
        return list(city_solar.extract(client, source, watermark))


def test_extract_finds_the_datastore_resource_and_pages_by_offset() -> None:
    portal = FakePortal(rows=10)
    pages = _extract(portal, None)
    assert [p.watermark_after for p in pages] == ["4", "8", "10"]
    assert portal.requests[0].url.params["id"] == "kk-solar"
    searches = portal.searches()
    assert [q["offset"] for q in searches] == ["0", "4", "8"]
    assert {(q["limit"], q["sort"]) for q in searches} == {("4", "_id")}
    rows = [row for page in pages for row in city_solar.parse(page.content).rows["city_solar"]]
    assert [row["ckan_row_id"] for row in rows] == list(range(1, 11))
    assert [row[ROW] for row in rows] == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]  # position in its response


def test_a_rerun_against_an_unchanged_portal_fetches_one_empty_page() -> None:
    portal = FakePortal(rows=10)
    pages = _extract(portal, "10")
    assert len(pages) == 1 and pages[0].watermark_after == "10"
    assert city_solar.parse(pages[0].content).received == 0


def test_a_rerun_after_the_portal_grew_reads_only_the_new_rows() -> None:
    portal = FakePortal(rows=13)
    pages = _extract(portal, "10")
    assert [p.watermark_after for p in pages] == ["13"]
    rows = city_solar.parse(pages[0].content).rows["city_solar"]
    assert [row["ckan_row_id"] for row in rows] == [11, 12, 13]


def test_a_table_shorter_than_the_watermark_is_read_again_from_the_start() -> None:
    portal = FakePortal(rows=6)
    pages = _extract(portal, "10")
    assert [q["offset"] for q in portal.searches()] == ["10", "0", "4"]
    assert [p.watermark_after for p in pages] == ["4", "6"]


def test_resource_id_option_skips_package_show() -> None:
    portal = FakePortal(rows=3)
    pages = _extract(portal, None, resource_id=RESOURCE)
    assert all(r.url.path.endswith("datastore_search") for r in portal.requests)
    assert pages[-1].watermark_after == "3"


def test_an_unknown_package_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="404"):
        _extract(FakePortal(rows=3), None, package="no-such-package")


def test_a_package_without_a_datastore_resource_is_a_source_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        resources = [{"id": "res-pdf", "name": "data-dictionary", "datastore_active": False}]
        return httpx.Response(200, json=_envelope({"resources": resources}))

    source = Source(dataset="city.solar", url="http://portal", backoff_seconds=0)
    with (
        make_client(source, transport=httpx.MockTransport(handler)) as client,
        pytest.raises(SourceError, match="no DataStore resource"),
    ):
        list(city_solar.extract(client, source, None))


def test_an_unparseable_page_lands_with_the_watermark_unchanged() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"help": "x", "success": true, "result": {"reco')

    source = Source(dataset="city.solar", url="http://portal", options={"resource_id": "r"})
    with make_client(source, transport=httpx.MockTransport(handler)) as client:
        pages = list(city_solar.extract(client, source, "7"))
    assert [p.watermark_after for p in pages] == ["7"]
    with pytest.raises(ParseError, match="not valid JSON at line 1"):
        city_solar.parse(pages[0].content)


def test_parse_solar_converts_be_dates_and_commas() -> None:
    parsed = city_solar.parse(_search_answer([_solar_record(1, day=25, kwh="12,345.6")]))
    (row,) = parsed.rows["city_solar"]
    assert row["date"] == date(2026, 11, 25)
    assert row["energy_kwh"] == 12345.6
    assert row["capacity_kwp"] == 250.0
    assert row["municipality"] == "เทศบาลนครขอนแก่น"
    assert parsed.rejects == []


def test_parse_rejects_bad_rows_naming_the_column_and_keeps_the_rest() -> None:
    records = [
        _solar_record(1),
        _solar_record(2, kwh="n/a"),
        {**_solar_record(3), "date": "31/02/2569"},
        {**_solar_record(4), "date": "01/11/2026"},  # a CE year where a BE one belongs
        {**_solar_record(5), "site_id": None},
    ]
    parsed = city_solar.parse(_search_answer(records))
    assert [(row["ckan_row_id"], row[ROW]) for row in parsed.rows["city_solar"]] == [(1, 1)]
    assert parsed.missing == {}
    reasons = {reject.row_number: reject.reason for reject in parsed.rejects}
    assert set(reasons) == {2, 3, 4, 5}
    assert "'energy_kwh'" in reasons[2]
    assert "'date'" in reasons[3] and "day is out of range" in reasons[3]
    assert "'date'" in reasons[4] and "Buddhist-era" in reasons[4]
    assert "'site_id'" in reasons[5] and "key is missing" in reasons[5]
    assert json.loads(parsed.rejects[0].payload)["energy_kwh"] == "n/a"
    assert parsed.received == len(records)


def test_parse_population_converts_buddhist_era_years() -> None:
    record = {
        "_id": 1,
        "community_code": "KKC-01",
        "community_name": "ชุมชนศรีจันทร์",
        "municipality": "ทน.ขอนแก่น",
        "year": "2568",
        "population": "12,345",
        "households": "4,321",
        "lat": 16.43,
        "lon": 102.83,
    }
    fields = [{"id": name} for name in city_population.FIELDS]
    bad = {**record, "_id": 2, "year": "n/a"}
    answer = _envelope({"fields": fields, "records": [record, bad], "total": 2})
    parsed = city_population.parse(json.dumps(answer, ensure_ascii=False).encode())
    (row,) = parsed.rows["city_population"]
    assert (row["year_be"], row["year_ce"]) == (2568, 2025)
    assert (row["population"], row["households"]) == (12345, 4321)
    assert row["municipality"] == "ทน.ขอนแก่น"
    assert (row["latitude"], row["longitude"]) == (16.43, 102.83)
    (reject,) = parsed.rejects
    assert reject.row_number == 2 and "'year_be'" in reject.reason


def test_parse_hotel_occupancy_takes_the_date_of_a_datastore_timestamp() -> None:
    record = {
        "_id": 9,
        "hotel_id": "KKH-01",
        "hotel_name": "โรงแรม",
        "municipality": "เทศบาลนครขอนแก่น",
        "date": "2026-11-25T00:00:00",
        "rooms_available": 200,
        "rooms_occupied": 150,
        "occupancy_rate": 0.75,
    }
    fields = [{"id": name} for name in city_hotel_occupancy.FIELDS]
    answer = _envelope({"fields": fields, "records": [record], "total": 1})
    (row,) = city_hotel_occupancy.parse(json.dumps(answer).encode()).rows["city_hotel_occupancy"]
    assert row["date"] == date(2026, 11, 25)
    assert (row["rooms_occupied"], row["occupancy_rate"]) == (150, 0.75)


def test_parse_mice_event_dates_and_money() -> None:
    record = {
        "_id": 1,
        "event_id": "MICE-256803-01",
        "event_name": "มหกรรมผ้าไหมและของดีขอนแก่น 2568",
        "event_type": "exhibition",
        "venue": "KICE",
        "municipality": "เทศบาลนครขอนแก่น",
        "start_date": "14/03/2568",
        "end_date": "16/03/2568",
        "domestic_attendees": "8,023",
        "international_attendees": "100",
        "revenue_thb": "76,486,108.54",
    }
    fields = [{"id": name} for name in city_mice_events.FIELDS]
    answer = _envelope({"fields": fields, "records": [record], "total": 1})
    content = json.dumps(answer, ensure_ascii=False).encode()
    (row,) = city_mice_events.parse(content).rows["city_mice_events"]
    assert (row["start_date"], row["end_date"]) == (date(2025, 3, 14), date(2025, 3, 16))
    assert (row["domestic_attendees"], row["revenue_thb"]) == (8023, 76486108.54)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"success": true, "result": {"fields": [], "rec', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not"),
        (json.dumps(_envelope({"message": "boom"}, success=False)).encode(), "success=false"),
        (json.dumps(_envelope({"fields": SOLAR_FIELDS})).encode(), "'records'"),
        (json.dumps({"records": []}).encode(), "not a CKAN action response"),
    ],
)
def test_unparseable_answers_raise_parse_error(content: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        city_solar.parse(content)


def test_a_missing_column_is_schema_drift_left_to_the_suite() -> None:
    fields = [f for f in SOLAR_FIELDS if f["id"] != "energy_kwh"]
    records = [{k: v for k, v in _solar_record(n).items() if k != "energy_kwh"} for n in (1, 2)]
    answer = _envelope({"fields": fields, "records": records, "total": 2})
    parsed = city_solar.parse(json.dumps(answer).encode())
    assert parsed.missing == {"city_solar": {"energy_kwh"}}
    rows = parsed.rows["city_solar"]
    assert [(row[ROW], row["site_id"], row["energy_kwh"]) for row in rows] == [
        (1, "SOL-01", None),
        (2, "SOL-02", None),
    ]
    assert parsed.rejects == []


def test_a_missing_key_field_is_typed_null_not_rejected_row_by_row() -> None:
    """The suite's expect_column_to_exist sets the batch aside whole, with one reason."""
    records = [{k: v for k, v in _solar_record(n).items() if k != "site_id"} for n in (1, 2, 3)]
    answer = _envelope({"fields": SOLAR_FIELDS, "records": records, "total": 3})  # still declared
    parsed = city_solar.parse(json.dumps(answer).encode())
    assert parsed.missing == {"city_solar": {"site_id"}}
    assert [row["site_id"] for row in parsed.rows["city_solar"]] == [None, None, None]
    assert parsed.rejects == []


def test_a_missing_source_field_names_every_raw_column_made_from_it() -> None:
    fields = [{"id": name} for name in city_population.FIELDS if name not in {"year", "lat"}]
    record = {
        "_id": 1,
        "community_code": "KKC-01",
        "community_name": "ชุมชน",
        "municipality": "เทศบาลนครขอนแก่น",
        "population": "1,000",
        "households": "300",
        "lon": 102.83,
        "lat": 16.43,  # carried by the record but not declared: the answer's schema lacks it
    }
    answer = _envelope({"fields": fields, "records": [record], "total": 1})
    parsed = city_population.parse(json.dumps(answer, ensure_ascii=False).encode())
    assert parsed.missing == {"city_population": {"year_be", "year_ce", "latitude"}}
    (row,) = parsed.rows["city_population"]
    assert (row["year_be"], row["year_ce"], row["latitude"]) == (None, None, None)
    assert (row["community_code"], row["population"], row["longitude"]) == ("KKC-01", 1000, 102.83)


def test_freshness_names_a_date_column_of_the_connector_s_table() -> None:
    assert city_population.FRESHNESS is None  # yearly counts carry no event time
    for module in (city_mice_events, city_hotel_occupancy, city_solar):
        table_name, column = module.FRESHNESS
        (table,) = module.TABLES
        assert table_name == table.name and table.columns[column] == "DATE"


# --------------------------------------------------------------------------------------------
# Against the emulator over loopback


@pytest.fixture(scope="module")
def portal() -> Iterator[Emulator]:
    emulator = build(CLOCK).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _source(
    emulator: Emulator, module: ModuleType, page_size: int = 1000, **options: Any
) -> Source:
    return Source(
        dataset=module.DATASET,
        url=emulator.url,
        page_size=page_size,
        backoff_seconds=0.01,
        options=options,
    )


def _run(source: Source, module: ModuleType, watermark: str | None = None) -> list[Page]:
    with make_client(source) as client:
        return list(module.extract(client, source, watermark))


def _parse_all(module: ModuleType, pages: list[Page]) -> Parsed:
    merged = Parsed()
    for page in pages:
        parsed = module.parse(page.content)
        for table, rows in parsed.rows.items():
            merged.rows.setdefault(table, []).extend(rows)
        merged.rejects.extend(parsed.rejects)
    return merged


def _total(emulator: Emulator, package: str) -> int:
    with httpx.Client(base_url=emulator.url) as client:
        show = client.get("/api/3/action/package_show", params={"id": package}).json()
        resource = next(r for r in show["result"]["resources"] if r["datastore_active"])
        answer = client.get(
            "/api/3/action/datastore_search", params={"resource_id": resource["id"], "limit": 0}
        ).json()
    return answer["result"]["total"]


@pytest.mark.emulator
@pytest.mark.parametrize("module", CONNECTORS, ids=lambda m: m.DATASET)
def test_emulator_extract_and_parse_every_row_then_nothing_new(
    portal: Emulator, module: ModuleType
) -> None:
    source = _source(portal, module, page_size=400)
    pages = _run(source, module)
    parsed = _parse_all(module, pages)
    (table,) = module.TABLES
    rows = parsed.rows[table.name]
    total = _total(portal, module.PACKAGE)
    assert parsed.rejects == []
    assert len(rows) == total > 0
    assert len(pages) == -(-total // 400)
    assert pages[-1].watermark_after == str(total)
    assert [int(p.watermark_after) for p in pages] == sorted(int(p.watermark_after) for p in pages)
    keys = Counter(tuple(row[k] for k in table.key) for row in rows)
    assert max(keys.values()) == 1
    assert set(rows[0]) == set(table.columns) | {ROW}
    assert [row[ROW] for row in module.parse(pages[0].content).rows[table.name]][:3] == [1, 2, 3]
    assert {row["municipality"] for row in rows} <= THAI_NAMES

    again = _run(source, module, pages[-1].watermark_after)
    assert len(again) == 1 and again[0].watermark_after == str(total)
    assert module.parse(again[0].content).received == 0


@pytest.mark.emulator
def test_emulator_population_years_cover_the_emulated_year(portal: Emulator) -> None:
    rows = _parse_all(city_population, _run(_source(portal, city_population), city_population))
    rows = rows.rows["city_population"]
    years = {row["year_ce"] for row in rows}
    assert {CLOCK.first_day.year, CLOCK.last_day.year} <= years and len(years) >= 3
    assert all(row["year_be"] - row["year_ce"] == 543 for row in rows)
    assert all(isinstance(row["population"], int) and row["population"] > 0 for row in rows)
    assert all(0 < row["households"] < row["population"] for row in rows)
    assert all(15.6 <= row["latitude"] <= 17.2 for row in rows)
    assert all(101.6 <= row["longitude"] <= 103.3 for row in rows)
    spellings = {row["municipality"] for row in rows}
    assert spellings & {m.name_th for m in MUNICIPALITIES}
    assert spellings & {m.name_th_variant for m in MUNICIPALITIES}
    per_year = Counter(row["year_ce"] for row in rows)
    assert set(per_year.values()) == {sum(m.districts for m in MUNICIPALITIES)}


@pytest.mark.emulator
def test_emulator_daily_tables_cover_the_emulated_days(portal: Emulator) -> None:
    for module in (city_hotel_occupancy, city_solar):
        rows = _parse_all(module, _run(_source(portal, module), module)).rows[module.TABLES[0].name]
        days = {row["date"] for row in rows}
        assert min(days) == history_start(CLOCK) and max(days) == CLOCK.last_day
        assert all(day in days for day in CLOCK.days())
    hotels = _parse_all(
        city_hotel_occupancy, _run(_source(portal, city_hotel_occupancy), city_hotel_occupancy)
    ).rows["city_hotel_occupancy"]
    assert len({row["hotel_id"] for row in hotels}) == 12
    for row in hotels:
        assert 0 <= row["rooms_occupied"] <= row["rooms_available"]
        assert row["occupancy_rate"] == pytest.approx(
            row["rooms_occupied"] / row["rooms_available"], abs=1e-4
        )
    solar = _parse_all(city_solar, _run(_source(portal, city_solar), city_solar)).rows["city_solar"]
    assert all(0 <= row["energy_kwh"] <= row["capacity_kwp"] * 24 for row in solar)
    assert max(row["energy_kwh"] for row in solar) > 1000  # "1,234.5" read as 1234.5, not 1.0


@pytest.mark.emulator
def test_emulator_mice_events_are_clean(portal: Emulator) -> None:
    rows = _parse_all(city_mice_events, _run(_source(portal, city_mice_events), city_mice_events))
    events = rows.rows["city_mice_events"]
    full_months = (CLOCK.last_day - history_start(CLOCK)).days // 31
    assert len(events) >= 2 * full_months  # two to six a month
    assert {e["event_type"] for e in events} <= {"meeting", "incentive", "convention", "exhibition"}
    assert all(e["start_date"] <= e["end_date"] <= CLOCK.last_day for e in events)
    assert all(e["domestic_attendees"] >= 0 and e["international_attendees"] >= 0 for e in events)
    assert all(e["revenue_thb"] > 0 for e in events)
    city = sum(e["municipality"] == "เทศบาลนครขอนแก่น" for e in events)
    assert city > len(events) / 2


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("module", "columns"),
    [
        (city_population, {"'population'", "'community_code'"}),
        (city_mice_events, {"'domestic_attendees'", "'start_date'"}),
        (city_hotel_occupancy, {"'rooms_occupied'", "'hotel_id'"}),
        (city_solar, {"'energy_kwh'", "'date'"}),
    ],
    ids=["population", "mice_events", "hotel_occupancy", "solar"],
)
def test_emulator_malformed_rows_become_rejects_naming_the_column(
    portal: Emulator, module: ModuleType, columns: set[str]
) -> None:
    portal.faults.data["malformed_rows"] = 2
    pages = _run(_source(portal, module, page_size=40), module)
    parsed = _parse_all(module, pages)
    rows = parsed.rows[module.TABLES[0].name]
    assert len(parsed.rejects) == sum(min(2, module.parse(p.content).received) for p in pages)
    assert len(rows) + len(parsed.rejects) == int(pages[-1].watermark_after)
    named = {column for reject in parsed.rejects for column in columns if column in reject.reason}
    assert named == columns
    assert all(r.row_number >= 1 and json.loads(r.payload)["_id"] for r in parsed.rejects)
    assert all(set(row) == set(module.TABLES[0].columns) | {ROW} for row in rows)


@pytest.mark.emulator
def test_emulator_out_of_range_unknown_codes_and_duplicates(portal: Emulator) -> None:
    portal.faults.data.update(out_of_range=1, unknown_codes=1, duplicate_rows=1)
    pages = _run(_source(portal, city_hotel_occupancy, page_size=100), city_hotel_occupancy)
    parsed = _parse_all(city_hotel_occupancy, pages)
    rows = parsed.rows["city_hotel_occupancy"]
    assert parsed.rejects == []  # these rows are typed: catching them is the validation's job
    assert sum(row["occupancy_rate"] > 1 for row in rows) == len(pages)
    assert sum(row["municipality"] not in THAI_NAMES for row in rows) == len(pages)
    keys = Counter((row["hotel_id"], row["date"]) for row in rows)
    assert sum(count - 1 for count in keys.values()) == len(pages)

    events = _run(_source(portal, city_mice_events), city_mice_events)
    types = {e["event_type"] for e in _parse_all(city_mice_events, events).rows["city_mice_events"]}
    assert "festival" in types


@pytest.mark.emulator
def test_emulator_missing_column_is_recorded_as_missing(portal: Emulator) -> None:
    portal.faults.data["missing_column"] = "energy_kwh"
    pages = _run(_source(portal, city_solar), city_solar)
    parsed = city_solar.parse(pages[0].content)
    assert parsed.missing == {"city_solar": {"energy_kwh"}}
    assert parsed.rejects == [] and parsed.rows["city_solar"]
    assert all(row["energy_kwh"] is None for row in parsed.rows["city_solar"])


@pytest.mark.emulator
def test_emulator_stale_feed_stops_a_week_early(portal: Emulator) -> None:
    portal.faults.data["stale_feed"] = True
    pages = _run(_source(portal, city_solar), city_solar)
    days = {row["date"] for row in _parse_all(city_solar, pages).rows["city_solar"]}
    assert max(days) == date(2026, 11, 18)


@pytest.mark.emulator
def test_emulator_http_faults_are_retried(portal: Emulator) -> None:
    portal.faults.inject("status", count=2, status=503, path="datastore_search")
    portal.faults.inject("truncate", path="datastore_search")
    portal.faults.inject("rate_limit", retry_after=0, path="package_show")
    pages = _run(_source(portal, city_mice_events), city_mice_events)
    assert pages[-1].watermark_after == str(_total(portal, "kk-mice-events"))
    assert portal.faults.as_dict()["http"] == []


@pytest.mark.emulator
def test_emulator_answers_ckan_errors_and_search(portal: Emulator) -> None:
    with httpx.Client(base_url=portal.url) as client:
        found = client.get("/api/3/action/package_search", params={"q": "hotel"}).json()
        assert found["success"] and [p["name"] for p in found["result"]["results"]] == [
            "kk-hotel-occupancy"
        ]
        everything = client.get("/api/3/action/package_search").json()["result"]
        assert everything["count"] == 4
        missing = client.get("/api/3/action/datastore_search", params={"resource_id": "nope"})
        assert missing.status_code == 404
        assert missing.json()["success"] is False
        assert missing.json()["error"]["__type"] == "Not Found Error"
        show = client.get("/api/3/action/package_show", params={"id": "kk-solar"}).json()
        resource = next(r for r in show["result"]["resources"] if r["datastore_active"])
        bad = client.get(
            "/api/3/action/datastore_search",
            params={"resource_id": resource["id"], "limit": "many"},
        )
        assert bad.status_code == 409 and bad.json()["error"]["limit"] == ["Invalid integer"]
        first = client.get(
            "/api/3/action/datastore_search",
            params={"resource_id": resource["id"], "limit": 2, "sort": "_id desc"},
        ).json()["result"]
        assert [r["_id"] for r in first["records"]] == [first["total"], first["total"] - 1]
        assert first["fields"][0] == {"id": "_id", "type": "int"}
        assert "offset=2" in first["_links"]["next"]
        posted = client.post(  # CKAN also takes the parameters as a JSON body
            "/api/3/action/datastore_search",
            json={"resource_id": resource["id"], "limit": 1, "offset": 1},
        ).json()["result"]
        assert [r["_id"] for r in posted["records"]] == [2]


def test_emulator_days_do_not_change_when_today_moves_on() -> None:
    earlier, later = build(CLOCK).start(), build(Clock(date(2026, 11, 28), 30)).start()
    try:
        before = _parse_all(city_solar, _run(_source(earlier, city_solar), city_solar))
        after = _parse_all(city_solar, _run(_source(later, city_solar), city_solar))
    finally:
        earlier.stop()
        later.stop()
    old, new = before.rows["city_solar"], after.rows["city_solar"]
    assert new[: len(old)] == old  # the table only grew, in _id order
    assert {row["date"] for row in new[len(old) :]} == {date(2026, 11, 26), date(2026, 11, 27)}
