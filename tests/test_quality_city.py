"""The city CKAN datasets' data contracts (GX suites), met by the real flow and the portal's faults.

Each test sets one of the city portal's data faults (see ``emulators/city.py``), runs the
``ingest`` flow on the four CKAN datasets at once (one Great Expectations gate per test), and
reads what the warehouse says: which rows were set aside and why, which expectations failed in
``audit.validations``, and that ``rows_received = rows_loaded + rows_quarantined`` still holds.
A page size above any table's length (at most a fiscal year and 30 days of a dozen hotels) makes
each dataset one batch, so the faults spoil a known number of rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from connectors import city_hotel_occupancy, city_mice_events, city_population, city_solar
from emulators.server import Emulator
from expectations.gate import PROJECT, SCOPE_LATEST
from flows.config import load_settings
from flows.ingest import DatasetSummary, ingest
from tests.support import TEST_CLOCK, write_config

CONNECTORS: tuple[ModuleType, ...] = (
    city_population,
    city_mice_events,
    city_hotel_occupancy,
    city_solar,
)
DATASETS = [module.DATASET for module in CONNECTORS]
TABLE = {module.DATASET: module.TABLES[0] for module in CONNECTORS}
ONE_PAGE = {"page_size": 5000}
SUITES = PROJECT / "expectations"
SIX = {
    "เทศบาลนครขอนแก่น",
    "ทน.ขอนแก่น",
    "เทศบาลเมืองศิลา",
    "ทม.ศิลา",
    "เทศบาลตำบลท่าพระ",
    "ทต.ท่าพระ",
    "เทศบาลตำบลสำราญ",
    "ทต.สำราญ",
    "เทศบาลตำบลบ้านทุ่ม",
    "ทต.บ้านทุ่ม",
    "เทศบาลตำบลบ้านเป็ด",
    "ทต.บ้านเป็ด",
}
FRESHNESS_CHECK = "expect_column_max_to_be_between({})"


def run(
    tmp_path: Path, emulators: dict[str, Emulator], datasets: list[str], **overrides: dict
) -> tuple[dict[str, DatasetSummary], Any]:
    settings = {d.replace(".", "__"): dict(ONE_PAGE) for d in datasets}
    for name, values in overrides.items():
        settings[name] = {**settings.get(name, {}), **values}
    config = write_config(tmp_path, emulators, **settings)
    summaries = ingest(datasets=datasets, config=str(config), data_dir=str(tmp_path / "data"))
    return {s.dataset: s for s in summaries}, load_settings(config, tmp_path / "data")


def query(settings: Any, sql: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def raw_rows(settings: Any, dataset: str) -> list[dict[str, Any]]:
    table = TABLE[dataset].name
    with settings.warehouse.read() as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = ?",
            [table],
        ).fetchone()[0]
        if not exists:
            return []
        found = con.execute(f"select * from raw.{table}")
        names = [d[0] for d in found.description]
        return [dict(zip(names, row, strict=True)) for row in found.fetchall()]


def quarantined(settings: Any, dataset: str) -> list[tuple[int, str, dict[str, Any]]]:
    rows = query(
        settings,
        "select row_number, reason, payload from quarantine.rows where dataset = ? "
        "order by row_number",
        [dataset],
    )
    return [(number, reason, json.loads(payload)) for number, reason, payload in rows]


def failed_checks(settings: Any, dataset: str) -> dict[str, tuple[str, int | None, str]]:
    rows = query(
        settings,
        "select expectation, severity, unexpected_count, observed_value from audit.validations "
        "where dataset = ? and not success",
        [dataset],
    )
    return {name: (severity, count, observed) for name, severity, count, observed in rows}


def assert_ledger_balances(settings: Any, summaries: dict[str, DatasetSummary]) -> None:
    for dataset, summary in summaries.items():
        assert summary.rows_received == summary.rows_loaded + summary.rows_quarantined
        batches = query(
            settings,
            "select rows_received, rows_loaded, rows_quarantined, "
            "(select count(*) from quarantine.rows q where q.batch_id = b.batch_id) "
            "from audit.batches b where dataset = ?",
            [dataset],
        )
        assert batches, dataset
        for received, loaded, set_aside, in_quarantine in batches:
            assert received == loaded + set_aside and set_aside == in_quarantine, dataset


def key_of(dataset: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[column]) for column in TABLE[dataset].key)


# --------------------------------------------------------------------------------------------
# The suites themselves


@pytest.mark.parametrize("module", CONNECTORS, ids=DATASETS)
def test_each_raw_table_has_a_reviewed_suite_stating_its_contract(module: ModuleType) -> None:
    (table,) = module.TABLES
    suite = json.loads((SUITES / f"{table.name}.json").read_text(encoding="utf-8"))
    assert suite["name"] == table.name and suite["meta"]["dataset"] == module.DATASET
    assert len(suite["meta"]["contract"]) > 40
    expectations = suite["expectations"]
    assert all(e["meta"]["severity"] in {"critical", "warning"} for e in expectations)
    exists = {
        e["kwargs"]["column"]
        for e in expectations
        if e["type"] == "expect_column_to_exist" and e["meta"]["severity"] == "critical"
    }
    assert exists == set(table.columns)
    named = {
        column
        for e in expectations
        for column in [
            e["kwargs"].get("column"),
            e["kwargs"].get("column_A"),
            e["kwargs"].get("column_B"),
            *e["kwargs"].get("column_list", []),
        ]
        if column
    }
    assert named <= set(table.columns)
    latest = [e for e in expectations if e["meta"].get("scope") == SCOPE_LATEST]
    if module.FRESHNESS is None:
        assert latest == []
    else:
        (check,) = latest
        assert (table.name, check["kwargs"]["column"]) == module.FRESHNESS
        assert check["meta"]["severity"] == "warning"
        assert check["kwargs"]["min_value"] == {"$PARAMETER": "fresh_after_date"}
    if "municipality" in table.columns:
        (municipalities,) = [
            e["kwargs"]["value_set"]
            for e in expectations
            if e["type"] == "expect_column_values_to_be_in_set"
            and e["kwargs"]["column"] == "municipality"
        ]
        assert set(municipalities) == SIX


# --------------------------------------------------------------------------------------------
# Through the flow


@pytest.mark.flow
def test_clean_portal_loads_in_full_and_passes_every_check(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    # Solar in pages of 200: the freshness check runs on the last page only.
    summaries, settings = run(tmp_path, emulators, DATASETS, city__solar={"page_size": 200})
    assert summaries["city.solar"].batches >= 2
    for dataset in DATASETS:
        summary = summaries[dataset]
        assert summary.statuses == {"loaded": summary.batches}, dataset
        assert summary.rows_quarantined == 0 and summary.rows_loaded > 0, dataset
        assert len(raw_rows(settings, dataset)) == summary.rows_loaded, dataset
        assert failed_checks(settings, dataset) == {}, dataset
    assert query(settings, "select count(*) from quarantine.rows") == [(0,)]
    assert_ledger_balances(settings, summaries)
    for module in CONNECTORS:
        suite = json.loads((SUITES / f"{module.TABLES[0].name}.json").read_text("utf-8"))
        [(batches, checks)] = query(
            settings,
            "select count(distinct batch_id), count(*) from audit.validations where dataset = ?",
            [module.DATASET],
        )
        judged_once = 0
        if module.FRESHNESS:
            fresh = query(
                settings,
                "select batch_id, observed_value from audit.validations "
                "where dataset = ? and expectation = ?",
                [module.DATASET, FRESHNESS_CHECK.format(module.FRESHNESS[1])],
            )
            [(batch_id, observed)] = fresh  # judged once, on the run's last batch
            [(last_batch,)] = query(
                settings,
                "select batch_id from audit.batches where dataset = ? "
                "order by loaded_at desc limit 1",
                [module.DATASET],
            )
            assert batch_id == last_batch
            if module is not city_mice_events:  # daily tables: the newest day is yesterday
                assert json.loads(observed) == TEST_CLOCK.last_day.isoformat()
            judged_once = 1
        every_batch = [e for e in suite["expectations"] if e["meta"].get("scope") != SCOPE_LATEST]
        assert checks == batches * len(every_batch) + judged_once, module.DATASET


# Per fault and dataset: each expectation that must fail, with how many rows it sets aside and
# what is wrong with each of them (None: rows sharing a natural key, checked as duplicates).
Check = tuple[str, int, Callable[[dict[str, Any]], bool] | None]
ROW_FAULTS: dict[str, tuple[dict[str, Any], dict[str, list[Check]]]] = {
    "out_of_range": (
        {"out_of_range": 2},
        {
            "city.population": [
                (
                    "expect_column_values_to_be_between(latitude)",
                    2,
                    lambda r: not 15.6 <= r["latitude"] <= 17.2,
                )
            ],
            "city.mice_events": [  # the knob alternates: an end before the start, then -35
                (
                    "expect_column_pair_values_a_to_be_greater_than_b(end_date, start_date)",
                    1,
                    lambda r: r["end_date"] < r["start_date"],
                ),
                (
                    "expect_column_values_to_be_between(international_attendees)",
                    1,
                    lambda r: r["international_attendees"] < 0,
                ),
            ],
            "city.hotel_occupancy": [  # occupancy 1.7: both checks catch the same two rows
                (
                    "expect_column_values_to_be_between(occupancy_rate)",
                    2,
                    lambda r: r["occupancy_rate"] > 1,
                ),
                (
                    "expect_column_pair_values_a_to_be_greater_than_b"
                    "(rooms_available, rooms_occupied)",
                    2,
                    lambda r: r["rooms_occupied"] > r["rooms_available"],
                ),
            ],
            "city.solar": [
                (
                    "unexpected_rows_expectation"
                    "(no site makes more than 24 hours at full power a day)",
                    2,
                    lambda r: r["energy_kwh"] > r["capacity_kwp"] * 24,
                )
            ],
        },
    ),
    "duplicate_rows": (
        {"duplicate_rows": 1},
        {
            "city.population": [
                ("expect_compound_columns_to_be_unique(community_code, year_ce)", 2, None)
            ],
            "city.mice_events": [("expect_column_values_to_be_unique(event_id)", 2, None)],
            "city.hotel_occupancy": [
                ("expect_compound_columns_to_be_unique(hotel_id, date)", 2, None)
            ],
            "city.solar": [("expect_compound_columns_to_be_unique(site_id, date)", 2, None)],
        },
    ),
    "unknown_codes": (
        {"unknown_codes": 1},
        {
            "city.population": [
                (
                    "expect_column_values_to_be_in_set(municipality)",
                    1,
                    lambda r: r["municipality"] not in SIX,
                )
            ],
            "city.mice_events": [
                (
                    "expect_column_values_to_be_in_set(event_type)",
                    1,
                    lambda r: r["event_type"] == "festival",
                )
            ],
            "city.hotel_occupancy": [
                (
                    "expect_column_values_to_be_in_set(municipality)",
                    1,
                    lambda r: r["municipality"] not in SIX,
                )
            ],
            "city.solar": [
                (
                    "expect_column_values_to_be_in_set(municipality)",
                    1,
                    lambda r: r["municipality"] not in SIX,
                )
            ],
        },
    ),
}


@pytest.mark.flow
@pytest.mark.parametrize("fault", list(ROW_FAULTS))
def test_bad_rows_are_set_aside_by_the_expectation_that_catches_them(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path, fault: str
) -> None:
    knobs, expected = ROW_FAULTS[fault]
    emulators["city"].faults.data.update(knobs)
    summaries, settings = run(tmp_path, emulators, DATASETS)
    assert_ledger_balances(settings, summaries)
    for dataset, checks in expected.items():
        summary = summaries[dataset]
        assert summary.statuses == {"loaded": 1}, dataset
        set_aside = quarantined(settings, dataset)
        names = {name for name, _, _ in checks}
        assert len(set_aside) == summary.rows_quarantined
        for number, reason, _ in set_aside:
            assert number >= 1 and set(reason.split("; ")) <= names, (dataset, reason)
        loaded = raw_rows(settings, dataset)
        assert len(loaded) == summary.rows_loaded > 0
        failed = failed_checks(settings, dataset)
        assert {n for n, (severity, _, _) in failed.items() if severity == "critical"} == names
        for name, count, wrong in checks:
            severity, unexpected, _ = failed[name]
            assert (severity, unexpected) == ("critical", count), (dataset, name)
            caught = [row for _, reason, row in set_aside if name in reason.split("; ")]
            assert len(caught) == count, (dataset, name)
            if wrong is not None:
                assert all(wrong(row) for row in caught), (dataset, name)
                assert not any(wrong(row) for row in loaded), (dataset, name)
            else:  # both copies of a duplicated key are set aside; the key is not loaded
                keys = Counter(key_of(dataset, row) for row in caught)
                assert list(keys.values()) == [2], (dataset, keys)
                assert not set(keys) & {key_of(dataset, row) for row in loaded}


@pytest.mark.flow
@pytest.mark.parametrize(
    ("field", "column", "affected"),
    [
        ("municipality", "municipality", DATASETS),
        ("date", "date", ["city.hotel_occupancy", "city.solar"]),  # a key column of these two
    ],
)
def test_a_missing_column_sets_the_whole_batch_aside(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    field: str,
    column: str,
    affected: list[str],
) -> None:
    emulators["city"].faults.data["missing_column"] = field
    summaries, settings = run(tmp_path, emulators, DATASETS)
    assert_ledger_balances(settings, summaries)
    for dataset in DATASETS:
        summary = summaries[dataset]
        if dataset not in affected:  # the field is not theirs: they load as usual
            assert summary.statuses == {"loaded": 1} and summary.rows_quarantined == 0
            continue
        assert summary.statuses == {"rejected": 1}, dataset
        assert summary.rows_loaded == 0 and summary.rows_quarantined > 0
        [(detail,)] = query(
            settings, "select detail from audit.batches where dataset = ?", [dataset]
        )
        assert "failed (critical" in detail
        set_aside = quarantined(settings, dataset)
        assert len(set_aside) == summary.rows_received
        assert [n for n, _, _ in set_aside] == list(range(1, summary.rows_received + 1))
        assert {reason for _, reason, _ in set_aside} == {detail}
        assert raw_rows(settings, dataset) == []
        failed = failed_checks(settings, dataset)
        assert failed[f"expect_column_to_exist({column})"][0] == "critical"
        watermark = query(
            settings, "select value from audit.watermarks where dataset = ?", [dataset]
        )
        assert watermark == []  # the next run reads the same rows again


@pytest.mark.flow
def test_a_stale_portal_loads_but_fails_the_freshness_warning(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["city"].faults.data["stale_feed"] = True
    daily = ["city.hotel_occupancy", "city.solar"]
    summaries, settings = run(tmp_path, emulators, daily)
    assert_ledger_balances(settings, summaries)
    week_ago = TEST_CLOCK.last_day - timedelta(days=7)
    for dataset in daily:
        summary = summaries[dataset]
        assert summary.statuses == {"loaded": 1} and summary.rows_quarantined == 0
        loaded = raw_rows(settings, dataset)
        assert len(loaded) == summary.rows_loaded > 0
        assert max(row["date"] for row in loaded) == week_ago
        failed = failed_checks(settings, dataset)
        assert set(failed) == {FRESHNESS_CHECK.format("date")}, dataset
        severity, _, observed = failed[FRESHNESS_CHECK.format("date")]
        assert severity == "warning" and json.loads(observed) == week_ago.isoformat()


@pytest.mark.flow
def test_malformed_rows_are_rejected_by_the_parser_and_the_rest_checked_and_loaded(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["city"].faults.data["malformed_rows"] = 2
    summaries, settings = run(tmp_path, emulators, DATASETS)
    assert_ledger_balances(settings, summaries)
    for dataset in DATASETS:
        summary = summaries[dataset]
        assert summary.statuses == {"loaded": 1} and summary.rows_quarantined == 2
        reasons = [reason for _, reason, _ in quarantined(settings, dataset)]
        assert len(reasons) == 2 and all(r.startswith("column '") for r in reasons), reasons
        assert len(raw_rows(settings, dataset)) == summary.rows_loaded
        assert failed_checks(settings, dataset) == {}, dataset
