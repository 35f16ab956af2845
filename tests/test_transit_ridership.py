"""transit.ridership: paging and watermark of the ticketing API, and the emulator's tap-ins."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest

from connectors import transit_gtfs, transit_ridership
from connectors.base import Page, Parsed, ParseError, Source
from connectors.http import make_client
from emulators.server import Emulator
from emulators.synthetic import MUNICIPALITIES, Clock
from emulators.transit import build

AS_OF = "2026-11-26"


def row(day: str, municipality: str, tap_ins: object = 10, route: str = "LRT1") -> dict:
    return {
        "service_date": day,
        "municipality_id": municipality,
        "route_id": route,
        "fare_product": "adult",
        "tap_ins": tap_ins,
    }


class FakeApi:
    """Two municipalities; ``sila`` lags two days behind ``samran``; two rows per page."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/municipalities":
            return httpx.Response(
                200, json={"data": [{"municipality_id": "samran"}, {"municipality_id": "sila"}]}
            )
        query = dict(request.url.params)
        self.queries.append(query)
        newest = date(2026, 11, 25) - timedelta(days=2 if query["municipality_id"] == "sila" else 0)
        day, rows = date.fromisoformat(query["from"]), []
        while day <= min(date.fromisoformat(query["to"]), newest):
            rows.append(row(day.isoformat(), query["municipality_id"], "1,234"))
            day += timedelta(days=1)
        page, size = int(query["page"]), int(query["page_size"])
        pages = -(-len(rows) // size)
        next_url = None
        if page < pages:
            next_url = str(request.url.copy_merge_params({"page": page + 1}))
        return httpx.Response(
            200,
            json={
                "data": rows[(page - 1) * size : page * size],
                "meta": {"page": page, "page_size": size, "total": len(rows), "total_pages": pages},
                "links": {"next": next_url},
            },
        )


def run(api: FakeApi, watermark: str | None, **options: object) -> list[Page]:
    source = Source(
        dataset=transit_ridership.DATASET,
        url="http://kkts.test",
        page_size=2,
        options={"as_of": AS_OF, **options},
    )
    with make_client(source, httpx.MockTransport(api)) as client:
        return list(transit_ridership.extract(client, source, watermark))


# --------------------------------------------------------------------------- unit: extract


def test_extract_pages_per_municipality_and_sets_watermark_on_the_last_page() -> None:
    api = FakeApi()

    pages = run(api, "2026-11-20")

    assert [(q["municipality_id"], q["page"]) for q in api.queries] == [
        ("samran", "1"), ("samran", "2"), ("samran", "3"), ("sila", "1"), ("sila", "2"),
    ]  # fmt: skip
    assert {(q["from"], q["to"]) for q in api.queries} == {("2026-11-21", "2026-11-25")}
    # sila has data up to the 23rd only: that is as far as the dataset is fully loaded
    assert [p.watermark_after for p in pages] == ["2026-11-20"] * 4 + ["2026-11-23"]
    rows = [r for p in pages for r in transit_ridership.parse(p.content).rows["transit_ridership"]]
    assert len(rows) == 5 + 3
    assert {r["tap_ins"] for r in rows} == {1234}


def test_first_run_uses_history_days_and_an_empty_window_fetches_nothing() -> None:
    api = FakeApi()
    pages = run(api, None, history_days=3, municipalities=["samran"])
    assert (api.queries[0]["from"], api.queries[0]["to"]) == ("2026-11-23", "2026-11-25")
    assert pages[-1].watermark_after == "2026-11-25"

    api = FakeApi()
    assert run(api, "2026-11-25") == []
    assert api.queries == []


def test_watermark_never_moves_back_when_the_source_returns_nothing() -> None:
    api = FakeApi()
    pages = run(api, "2026-11-23", municipalities=["sila"])
    assert api.queries and [p.watermark_after for p in pages] == ["2026-11-23"]


# --------------------------------------------------------------------------- unit: parse


def test_parse_types_rows_and_rejects_bad_ones_by_column() -> None:
    body = {
        "data": [
            row("2026-11-25", "sila", "2,468"),
            row("2026-11-25", "sila", "n/a", route="B20"),
            {k: v for k, v in row("2026-11-25", "sila").items() if k != "route_id"},
            row("25/11/2569", "sila"),
            ["not", "an", "object"],
        ],
        "meta": {},
        "links": {"next": None},
    }

    parsed = transit_ridership.parse(json.dumps(body).encode())

    assert parsed.rows["transit_ridership"] == [
        {
            "service_date": date(2026, 11, 25),
            "municipality_id": "sila",
            "route_id": "LRT1",
            "fare_product": "adult",
            "tap_ins": 2468,
            "_row": 1,
        }
    ]
    assert parsed.missing == {}
    reasons = {r.row_number: r.reason for r in parsed.rejects}
    assert set(reasons) == {2, 3, 4, 5}
    assert reasons[2].startswith("column 'tap_ins'")
    assert reasons[3] == "column 'route_id': key is missing"
    assert reasons[4].startswith("column 'service_date'")
    assert '"tap_ins": "n/a"' in parsed.rejects[0].payload
    assert reasons[5] == "row is a list, not an object"


def test_a_field_absent_from_every_row_is_drift_typed_null_not_a_reject() -> None:
    rows = [row("2026-11-25", "sila"), row("2026-11-25", "samran", route="B20")]
    for record in rows:
        del record["fare_product"]  # a key field: still typed, for the suite to set aside
    body = {"data": [*rows, "not an object"], "meta": {}, "links": {"next": None}}

    parsed = transit_ridership.parse(json.dumps(body).encode())

    assert parsed.missing == {"transit_ridership": {"fare_product"}}
    assert [
        (r["_row"], r["route_id"], r["fare_product"]) for r in parsed.rows["transit_ridership"]
    ] == [
        (1, "LRT1", None),
        (2, "B20", None),
    ]
    assert [(r.row_number, r.reason) for r in parsed.rejects] == [
        (3, "row is a str, not an object")
    ]
    assert transit_ridership.FRESHNESS == ("transit_ridership", "service_date")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"data": [{"service_date": "2026-11', "not valid JSON"),
        (b'{"error": "maintenance"}', "no 'data' list"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_parse_raises_on_an_unparseable_response(content: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        transit_ridership.parse(content)


# --------------------------------------------------------------------------- the emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = build(Clock(date(2026, 11, 26), history_days=30)).start()
    yield server
    server.stop()


def load(emulator: Emulator, watermark: str | None) -> tuple[list[Page], Parsed]:
    source = Source(
        dataset=transit_ridership.DATASET,
        url=emulator.url,
        backoff_seconds=0.01,
        page_size=100,
        options={"as_of": AS_OF},
    )
    with make_client(source) as client:
        pages = list(transit_ridership.extract(client, source, watermark))
    total = Parsed()
    for page in pages:
        parsed = transit_ridership.parse(page.content)
        positions = [r["_row"] for r in parsed.rows["transit_ridership"]]
        positions += [r.row_number for r in parsed.rejects]
        data = json.loads(page.content)["data"]
        assert sorted(positions) == list(range(1, len(data) + 1))  # each record, by position
        total.rows.setdefault("transit_ridership", []).extend(parsed.rows["transit_ridership"])
        total.rejects.extend(parsed.rejects)
    return pages, total


@pytest.mark.emulator
def test_emulator_serves_clean_tap_ins_for_gtfs_routes(emulator: Emulator) -> None:
    pages, parsed = load(emulator, None)
    rows = parsed.rows["transit_ridership"]

    assert parsed.rejects == []
    assert len(pages) > 6  # several pages per municipality
    assert [p.watermark_after for p in pages[:-1]] == [None] * (len(pages) - 1)
    assert pages[-1].watermark_after == "2026-11-25"
    # the emulated history is 30 days: 27 Oct to 25 Nov 2026
    assert {r["service_date"] for r in rows} == {
        date(2026, 10, 27) + timedelta(days=n) for n in range(30)
    }
    assert {r["municipality_id"] for r in rows} == {m.municipality_id for m in MUNICIPALITIES}
    assert {r["fare_product"] for r in rows} == {"adult", "student", "senior", "child"}
    keys = Counter((r["service_date"], r["municipality_id"], r["route_id"], r["fare_product"])
                   for r in rows)  # fmt: skip
    assert keys.most_common(1)[0][1] == 1
    assert all(isinstance(r["tap_ins"], int) and r["tap_ins"] >= 0 for r in rows)
    source = Source(dataset=transit_gtfs.DATASET, url=emulator.url)
    with make_client(source) as client:
        (gtfs,) = transit_gtfs.extract(client, source, None)
    routes = transit_gtfs.parse(gtfs.content).rows["transit_gtfs_routes"]
    assert {r["route_id"] for r in rows} == {r["route_id"] for r in routes}
    # the LRT carries more on a weekday than on a weekend day
    lrt = Counter()
    for r in rows:
        if r["route_id"] == "LRT1":
            lrt[r["service_date"]] += r["tap_ins"]
    assert lrt[date(2026, 11, 25)] > lrt[date(2026, 11, 22)] > 0  # Wednesday vs Sunday

    again, _ = load(emulator, pages[-1].watermark_after)
    assert again == []  # nothing new until tomorrow
    newer, parsed = load(emulator, "2026-11-22")
    assert {r["service_date"] for r in parsed.rows["transit_ridership"]} == {
        date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25),
    }  # fmt: skip
    assert newer[-1].watermark_after == "2026-11-25"


@pytest.mark.emulator
def test_emulator_malformed_rows_become_rejects(emulator: Emulator) -> None:
    emulator.faults.data["malformed_rows"] = 2

    pages, parsed = load(emulator, "2026-11-20")

    assert len(parsed.rejects) == 2 * len(pages)
    reasons = Counter(r.reason.split(":")[0] for r in parsed.rejects)
    assert reasons == {"column 'tap_ins'": len(pages), "column 'route_id'": len(pages)}
    assert all(isinstance(r["tap_ins"], int) for r in parsed.rows["transit_ridership"])
    assert len(parsed.rows["transit_ridership"]) > 250


@pytest.mark.emulator
def test_emulator_data_faults_and_a_stale_feed(emulator: Emulator) -> None:
    emulator.faults.data.update(
        out_of_range=1, duplicate_rows=1, unknown_codes=1, missing_column="fare_product"
    )
    pages, parsed = load(emulator, "2026-11-20")
    assert parsed.rejects == []  # drift is the suite's to judge, not a reject per row
    assert {r["fare_product"] for r in parsed.rows["transit_ridership"]} == {None}
    for page in pages:
        assert transit_ridership.parse(page.content).missing == {
            "transit_ridership": {"fare_product"}
        }

    emulator.faults.data["missing_column"] = None
    pages, parsed = load(emulator, "2026-11-20")
    rows = parsed.rows["transit_ridership"]
    assert len(pages) == 7  # Khon Kaen City needs two pages of 100, the others one
    assert sum(r["tap_ins"] < 0 for r in rows) == 7  # one per page
    assert sum(r["fare_product"] == "tourist_pass" for r in rows) == 7
    keys = Counter((r["service_date"], r["municipality_id"], r["route_id"], r["fare_product"])
                   for r in rows)  # fmt: skip
    assert sum(n - 1 for n in keys.values()) == 7

    emulator.faults.data.clear()
    emulator.faults.data["stale_feed"] = True
    pages, parsed = load(emulator, "2026-11-20")
    assert max(r["service_date"] for r in parsed.rows["transit_ridership"]) == date(2026, 11, 22)
    assert pages[-1].watermark_after == "2026-11-22"  # the missing days stay to be fetched
