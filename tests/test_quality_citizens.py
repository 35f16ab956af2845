"""The citizens' data contract, enforced by the GX gate in the real flow against the real emulator.

Each bad-data knob of the you-pee emulator is met by the expectation of the suite
``expectations/gx/expectations/citizens_service_requests.json`` that states the broken rule: the
rows it names are set aside in ``quarantine.rows`` with that expectation as reason, a drifted
column sets the whole page aside, and a stale feed is reported but loaded.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from connectors import citizens_requests as conn
from connectors import clock
from emulators.server import Emulator
from expectations.gate import Gate
from flows.config import load_settings
from flows.ingest import DatasetSummary, ingest
from tests.support import write_config
from warehouse.validation import Checks, rows_to_set_aside

pytestmark = pytest.mark.flow

DATASET = "citizens.requests"
TABLE = "citizens_service_requests"
FRESHNESS = "expect_column_max_to_be_between(requested_datetime)"
# Five days of tickets (about 100) in one window, one page: each knob hits the first rows of it,
# and a stale channel (nothing after three days ago) still answers rows to judge freshness on.
# lag_hours 48: the emulator serves finished days only, so its newest ticket is of yesterday evening
# (Bangkok); the bundled 24 h would call a clean feed stale late in the day.
SOURCE = {
    "page_size": 1000,
    "lag_hours": 48,
    "options": {"history_days": 5, "window_days": 30, "lookback_days": 45},
}


def run(tmp_path: Path, emulators: dict[str, Emulator]):
    config = write_config(tmp_path, emulators, citizens__requests=SOURCE)
    [summary] = ingest(datasets=[DATASET], config=str(config), data_dir=str(tmp_path / "data"))
    return summary, load_settings(config, tmp_path / "data")


def query(settings, sql: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def quarantined(settings) -> dict[int, set[str]]:
    """Per row number, the reasons it was set aside."""
    rows = query(
        settings, "select row_number, reason from quarantine.rows where dataset = ?", [DATASET]
    )
    return {number: set(reason.split("; ")) for number, reason in rows}


def failed(settings) -> dict[str, tuple[str, int | None]]:
    """Per failed expectation: its severity and unexpected count."""
    rows = query(
        settings,
        "select expectation, severity, unexpected_count from audit.validations "
        "where dataset = ? and not success",
        [DATASET],
    )
    return {name: (severity, count) for name, severity, count in rows}


def assert_accounted(summary: DatasetSummary, settings) -> None:
    """rows received = loaded + quarantined, per batch and in the warehouse."""
    assert summary.rows_received == summary.rows_loaded + summary.rows_quarantined
    batches = query(
        settings,
        "select rows_received, rows_loaded, rows_quarantined from audit.batches where dataset = ?",
        [DATASET],
    )
    assert len(batches) == summary.batches
    assert all(received == loaded + held for received, loaded, held in batches)
    [(held,)] = query(settings, "select count(*) from quarantine.rows where dataset = ?", [DATASET])
    assert held == summary.rows_quarantined
    if summary.rows_loaded:
        [(loaded,)] = query(settings, f"select count(*) from raw.{TABLE}")
        assert loaded == summary.rows_loaded


def test_clean_channel_loads_in_full_with_no_failed_check(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators)
    assert summary.batches == 1 and summary.statuses == {"loaded": 1}
    assert summary.rows_received > 30 and summary.rows_quarantined == 0
    assert_accounted(summary, settings)
    assert failed(settings) == {}
    checked = {name for (name,) in query(settings, "select expectation from audit.validations")}
    assert FRESHNESS in checked  # the run's last page proved the channel fresh
    assert "expect_column_values_to_be_between(lat)" in checked


def test_out_of_range_places_and_times_are_quarantined_by_the_rule_they_break(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["citizens"].faults.data["out_of_range"] = 4  # rows 1, 3 in Bangkok; 2, 4 time-warped
    summary, settings = run(tmp_path, emulators)
    in_bangkok = {
        "expect_column_values_to_be_between(lat)",
        "expect_column_values_to_be_between(long)",
    }
    in_order = (
        "expect_column_pair_values_a_to_be_greater_than_b(updated_datetime, requested_datetime)"
    )
    assert quarantined(settings) == {1: in_bangkok, 2: {in_order}, 3: in_bangkok, 4: {in_order}}
    assert failed(settings) == {name: ("critical", 2) for name in (*in_bangkok, in_order)}
    assert summary.statuses == {"loaded": 1} and summary.rows_quarantined == 4
    assert summary.rows_loaded == summary.rows_received - 4
    assert_accounted(summary, settings)
    [(outside,)] = query(
        settings,
        f"select count(*) from raw.{TABLE} "
        "where lat < 15.6 or updated_datetime < requested_datetime",
    )
    assert outside == 0


def test_duplicate_states_of_a_ticket_are_quarantined(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["citizens"].faults.data["duplicate_rows"] = 2  # rows 1, 2 sent again at the end
    summary, settings = run(tmp_path, emulators)
    received = summary.rows_received
    unique = "expect_compound_columns_to_be_unique(service_request_id, updated_datetime)"
    # both copies of each pair: the gate cannot tell which one the source meant
    assert quarantined(settings) == {n: {unique} for n in (1, 2, received - 1, received)}
    assert failed(settings) == {unique: ("critical", 4)}
    assert summary.rows_loaded == received - 4
    assert_accounted(summary, settings)


def test_unknown_status_and_service_code_are_quarantined(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["citizens"].faults.data["unknown_codes"] = 2  # row 1 "in_progress", row 2 "999"
    summary, settings = run(tmp_path, emulators)
    status = "expect_column_values_to_be_in_set(status)"
    code = "expect_column_values_to_be_in_set(service_code)"
    assert quarantined(settings) == {1: {status}, 2: {code}}
    assert failed(settings) == {status: ("critical", 1), code: ("critical", 1)}
    assert summary.rows_loaded == summary.rows_received - 2
    assert_accounted(summary, settings)
    [(kinds,)] = query(settings, f"select list(distinct status order by status) from raw.{TABLE}")
    assert kinds == ["closed", "open"]


@pytest.mark.parametrize("column", ["lat", "service_request_id"])
def test_a_column_missing_from_every_request_sets_the_page_aside_whole(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path, column: str
) -> None:
    emulators["citizens"].faults.data["missing_column"] = column
    summary, settings = run(tmp_path, emulators)
    assert summary.statuses == {"rejected": 1} and summary.rows_loaded == 0
    assert summary.rows_quarantined == summary.rows_received > 30
    assert_accounted(summary, settings)
    reasons = quarantined(settings)
    assert sorted(reasons) == list(range(1, summary.rows_received + 1))  # every row of the page
    [reason] = {r for why in reasons.values() for r in why}
    assert f"({column})" in reason and "failed (critical" in reason
    exists = f"expect_column_to_exist({column})"
    assert failed(settings)[exists] == ("critical", None)
    [(status, detail)] = query(
        settings, "select status, detail from audit.batches where dataset = ?", [DATASET]
    )
    assert status == "rejected" and f"({column})" in detail
    [(tables,)] = query(
        settings,
        "select count(*) from information_schema.tables where table_schema = 'raw' "
        "and table_name = ?",
        [TABLE],
    )
    assert tables == 0  # nothing reached raw
    [(watermark,)] = query(
        settings, "select count(*) from audit.watermarks where dataset = ?", [DATASET]
    )
    assert watermark == 0  # the next run reads the page again


def test_stale_channel_is_reported_and_still_loaded(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["citizens"].faults.data["stale_feed"] = True  # nothing new for three days
    summary, settings = run(tmp_path, emulators)
    assert summary.statuses == {"loaded": 1} and summary.rows_quarantined == 0
    assert summary.rows_loaded == summary.rows_received > 0
    assert_accounted(summary, settings)
    assert failed(settings) == {FRESHNESS: ("warning", None)}
    [(observed,)] = query(
        settings,
        "select observed_value from audit.validations where expectation = ?",
        [FRESHNESS],
    )
    assert observed  # the newest requested_datetime, for the auditor


def test_suite_names_rows_of_no_partner_municipality_or_from_the_future(tmp_path: Path) -> None:
    """The two rules no emulator knob breaks, on a hand-made page through the same gate."""
    now = clock.now()

    def request(number: int, **overrides: object) -> dict[str, object]:
        requested = now - timedelta(days=2)
        return {
            "service_request_id": f"YP-T-{number:03d}",
            "status": "open",
            "service_code": "101",
            "agency_responsible": "ทน.ขอนแก่น",  # the short spelling is allowed too
            "requested_datetime": requested.isoformat(),
            "updated_datetime": (requested + timedelta(hours=3)).isoformat(),
            "lat": 16.43,
            "long": 102.83,
            **overrides,
        }

    future = (now + timedelta(days=1)).isoformat()
    page = [
        request(1),
        request(2, agency_responsible="อบต.โนนท่อน"),  # not one of the six KKTS municipalities
        request(3, updated_datetime=future),
        request(4, agency_responsible="เทศบาลเมืองศิลา"),
    ]
    parsed = conn.parse(json.dumps(page, ensure_ascii=False).encode("utf-8"))
    assert "media_url" in parsed.missing[TABLE]  # optional GeoReport fields may be absent
    checks = Checks("b1", None, now - timedelta(hours=48), {})
    outcomes = Gate(tmp_path / "gx")(
        conn.REQUESTS, parsed.rows[TABLE], parsed.missing[TABLE], checks
    )
    municipality = "expect_column_values_to_be_in_set(agency_responsible)"
    set_aside = rows_to_set_aside(outcomes)
    assert set(set_aside) == {(TABLE, 2), (TABLE, 3)}
    assert set_aside[TABLE, 2] == [municipality]
    # named by its description or, as gate._name reads it today, by its query
    [in_future] = set_aside[TABLE, 3]
    assert in_future.startswith("unexpected_rows_expectation(")
    assert "in the future" in in_future or "updated_datetime > now()" in in_future
    assert {(o.expectation, o.severity) for o in outcomes if not o.success} == {
        (municipality, "critical"),
        (in_future, "critical"),
    }
