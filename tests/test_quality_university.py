"""Khon Kaen University's data contracts, met by the real flow: each bad-data knob of the
university emulator is caught by the expectation of the suite that matches it.

Suites: ``expectations/gx/expectations/university_measure_reports.json`` (FHIR MeasureReports)
and ``university_ems_dispatches.json`` (the cp874 EMS export).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from emulators.server import Emulator
from emulators.university import MEASURE_BASE
from flows.config import load_settings
from flows.ingest import DatasetSummary, ingest
from tests.support import TEST_CLOCK, write_config

pytestmark = pytest.mark.flow

MEASURES, REPORTS = "university.measures", "university_measure_reports"
RESEARCH, DISPATCHES = "university.research_csv", "university_ems_dispatches"
TABLE_OF = {MEASURES: REPORTS, RESEARCH: DISPATCHES}
SUITES = Path(__file__).resolve().parent.parent / "expectations" / "gx" / "expectations"
ROWS_RULE = "unexpected_rows_expectation("
# Two pages per run at the emulator's month of history, so per-page faults show per batch.
PAGED = {"university__measures": {"page_size": 200}}


def run(
    tmp_path: Path,
    emulators: dict[str, Emulator],
    dataset: str,
    faults: dict[str, Any],
    **overrides,
) -> tuple[DatasetSummary, Any]:
    emulators["university"].faults.data.update(faults)
    config = write_config(tmp_path, emulators, **(PAGED | overrides))
    (summary,) = ingest(datasets=[dataset], config=str(config), data_dir=str(tmp_path / "data"))
    return summary, load_settings(config, tmp_path / "data")


def query(settings: Any, sql: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def _descriptions() -> dict[str, str]:
    """Per row query of the suites, the rule it states."""
    found = {}
    for table in TABLE_OF.values():
        suite = json.loads((SUITES / f"{table}.json").read_text(encoding="utf-8"))
        for expectation in suite["expectations"]:
            if expectation["type"] == "unexpected_rows_expectation":
                kwargs = expectation["kwargs"]
                found[kwargs["unexpected_rows_query"]] = kwargs["description"]
    return found


DESCRIPTIONS = _descriptions()


def named(expectation: str) -> str:
    """An expectation's name with a row rule named by its description, whichever the gate used."""
    if expectation.startswith(ROWS_RULE):
        inner = expectation.removeprefix(ROWS_RULE).removesuffix(")")
        return f"{ROWS_RULE}{DESCRIPTIONS.get(inner, inner)})"
    return expectation


def raw_rows(settings: Any, table: str) -> int:
    exists = query(
        settings,
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = ?",
        [table],
    )[0][0]
    return query(settings, f"select count(*) from raw.{table}")[0][0] if exists else 0


def assert_ledger_balances(settings: Any, summary: DatasetSummary) -> None:
    """rows received = loaded + quarantined, per batch, for the run and in the tables."""
    batches = query(
        settings,
        "select batch_id, rows_received, rows_loaded, rows_quarantined from audit.batches "
        "where dataset = ?",
        [summary.dataset],
    )
    assert len(batches) == summary.batches
    for batch_id, received, loaded, quarantined in batches:
        assert received == loaded + quarantined
        [(in_quarantine,)] = query(
            settings, "select count(*) from quarantine.rows where batch_id = ?", [batch_id]
        )
        assert in_quarantine == quarantined
    assert summary.rows_received == summary.rows_loaded + summary.rows_quarantined
    assert raw_rows(settings, TABLE_OF[summary.dataset]) == summary.rows_loaded


def failed_validations(settings: Any, dataset: str) -> dict[str, list[tuple]]:
    """Failed expectation -> [(severity, unexpected_count, observed_value)], one per batch."""
    failed: dict[str, list[tuple]] = {}
    for expectation, severity, count, observed in query(
        settings,
        "select expectation, severity, unexpected_count, observed_value from audit.validations "
        "where dataset = ? and not success order by validated_at",
        [dataset],
    ):
        failed.setdefault(named(expectation), []).append((severity, count, observed))
    return failed


def quarantined(settings: Any, dataset: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(row number, reason, row as typed) of every row the checks set aside."""
    return [
        (number, "; ".join(named(r) for r in reason.split("; ")), json.loads(payload))
        for number, reason, payload in query(
            settings,
            "select row_number, reason, payload from quarantine.rows where dataset = ? "
            "order by batch_id, row_number",
            [dataset],
        )
    ]


# --- clean data -------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [MEASURES, RESEARCH])
def test_clean_data_loads_in_full_and_passes_every_check(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path, dataset: str
) -> None:
    summary, settings = run(tmp_path, emulators, dataset, {})
    assert summary.rows_quarantined == 0 and summary.rows_loaded > 0
    assert summary.statuses == {"loaded": summary.batches}
    assert_ledger_balances(settings, summary)
    assert failed_validations(settings, dataset) == {}
    [(expectations, batches)] = query(
        settings,
        "select count(distinct expectation), count(distinct batch_id) from audit.validations "
        "where dataset = ? and table_name = ?",
        [dataset, TABLE_OF[dataset]],
    )
    assert batches == summary.batches and expectations >= 20
    # Freshness is judged once, on the run's last batch.
    [(fresh,)] = query(
        settings,
        "select count(*) from audit.validations where dataset = ? "
        "and expectation like 'expect_column_max_to_be_between(%'",
        [dataset],
    )
    assert fresh == 1


# --- bad rows: set aside one by one, with the expectation as reason ---------------------------

EMS_CALLS, EHR_COVERAGE = MEASURE_BASE + "ems-calls", MEASURE_BASE + "ehr-coverage"
COVERAGE_RULE = "a coverage report has a positive denominator, a numerator not above it and a score of at most 1"  # noqa: E501

ROW_FAULTS = [
    pytest.param(
        MEASURES,
        {"out_of_range": 2},
        {"university__measures": {"page_size": 100, "options": {"measure": EMS_CALLS}}},
        {
            "expect_column_values_to_be_between(numerator)",
            "expect_column_values_to_be_between(initial_population)",
            "expect_column_values_to_be_between(measure_score)",
        },
        lambda row: row["numerator"] < 0 and row["measure_score"] < 0,
        4,  # two per page, on two pages
        id="measures-out_of_range-negative-count",
    ),
    pytest.param(
        MEASURES,
        {"out_of_range": 2},
        {"university__measures": {"options": {"measure": EHR_COVERAGE}}},
        {f"unexpected_rows_expectation({COVERAGE_RULE})"},
        lambda row: row["numerator"] > row["denominator"] and row["measure_score"] == 1.7,
        2,
        id="measures-out_of_range-coverage-above-1",
        marks=pytest.mark.skipif(
            not any((day + timedelta(days=1)).day == 1 for day in TEST_CLOCK.days()),
            reason="no month closed in the emulated window: no coverage report to damage",
        ),
    ),
    pytest.param(
        MEASURES,
        {"unknown_codes": 1},
        {},
        {
            "expect_column_values_to_be_in_set(municipality_id)",
            "expect_column_values_to_be_in_set(subject_display)",
        },
        lambda row: row["municipality_id"] == "phra_lap",
        2,
        id="measures-unknown_codes",
    ),
    pytest.param(
        RESEARCH,
        {"out_of_range": 3},
        {},
        {"expect_column_pair_values_a_to_be_greater_than_b(scene_arrival_at, call_at)"},
        lambda row: row["scene_arrival_at"] < row["call_at"],
        3,
        id="research_csv-out_of_range-arrival-before-call",
    ),
    pytest.param(
        RESEARCH,
        {"unknown_codes": 2},
        {},
        {
            "expect_column_values_to_be_in_set(priority_th)",
            "expect_column_values_to_be_in_set(municipality_th)",
        },
        lambda row: row["priority_th"] == "ด่วนมาก" or row["municipality_th"] == "เทศบาลตำบลพระลับ",
        2,
        id="research_csv-unknown_codes",
    ),
]


@pytest.mark.parametrize(
    ("dataset", "faults", "overrides", "reasons", "is_bad", "count"), ROW_FAULTS
)
def test_bad_values_are_set_aside_with_the_expectation_as_reason(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    dataset: str,
    faults: dict[str, Any],
    overrides: dict[str, Any],
    reasons: set[str],
    is_bad: Any,
    count: int,
) -> None:
    summary, settings = run(tmp_path, emulators, dataset, faults, **overrides)
    assert summary.statuses == {"loaded": summary.batches} and summary.rows_loaded > 0
    assert summary.rows_quarantined == count
    assert_ledger_balances(settings, summary)
    rows = quarantined(settings, dataset)
    assert len(rows) == count
    seen: set[str] = set()
    for number, reason, row in rows:
        assert number >= 1 and is_bad(row), (number, reason, row)
        seen |= set(reason.split("; "))
    assert seen == reasons  # each knob is caught by its own expectation, and only by it
    failed = failed_validations(settings, dataset)
    # (Coverage alone is published monthly: its freshness warning may fail too.)
    critical = {e for e, results in failed.items() if any(r[0] == "critical" for r in results)}
    assert critical == reasons
    for expectation in reasons:
        assert all(severity == "critical" for severity, _, _ in failed[expectation])
        listed = sum(expectation in reason.split("; ") for _, reason, _ in rows)
        # A row rule reports its count as the observed value, a map expectation as unexpected.
        counts = [n if n is not None else int(observed) for _, n, observed in failed[expectation]]
        assert sum(counts) == listed


@pytest.mark.parametrize(
    ("dataset", "key", "copies"),
    [(MEASURES, "report_id", 2), (RESEARCH, "incident_id", 3)],
)
def test_duplicate_rows_are_set_aside_as_breaking_the_key(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    dataset: str,
    key: str,
    copies: int,
) -> None:
    summary, settings = run(tmp_path, emulators, dataset, {"duplicate_rows": copies})
    assert summary.statuses == {"loaded": summary.batches}
    assert_ledger_balances(settings, summary)
    expectation = f"expect_column_values_to_be_unique({key})"
    rows = quarantined(settings, dataset)
    assert {reason for _, reason, _ in rows} == {expectation}
    # Every copy of a repeated key is set aside: the source must say which one holds.
    keys = [row[key] for _, _, row in rows]
    duplicated = copies * (summary.batches if dataset == MEASURES else 1)
    assert len(keys) == 2 * duplicated and all(keys.count(k) == 2 for k in keys)
    table = TABLE_OF[dataset]
    placeholders = ", ".join("?" for _ in keys)
    assert query(
        settings, f"select count(*) from raw.{table} where {key} in ({placeholders})", keys
    ) == [(0,)]
    failed = failed_validations(settings, dataset)
    assert set(failed) == {expectation}
    assert sum(n for _, n, _ in failed[expectation]) == len(keys)


# --- drift: the whole batch is set aside ------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "dropped", "column"),
    [
        (MEASURES, "measureScore", "measure_score"),
        (MEASURES, "id", "report_id"),
        (RESEARCH, "priority", "priority_th"),
        (RESEARCH, "เลขที่เหตุการณ์", "incident_id"),
    ],
)
def test_missing_column_sets_the_whole_batch_aside(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    dataset: str,
    dropped: str,
    column: str,
) -> None:
    summary, settings = run(tmp_path, emulators, dataset, {"missing_column": dropped})
    # The first page is rejected and the run stops there, its watermark before it.
    assert summary.batches == 1 and summary.statuses == {"rejected": 1}
    assert summary.rows_loaded == 0 and summary.rows_quarantined == summary.rows_received > 0
    assert_ledger_balances(settings, summary)
    [(status, detail)] = query(
        settings, "select status, detail from audit.batches where dataset = ?", [dataset]
    )
    assert status == "rejected" and f"({column})" in detail
    rows = quarantined(settings, dataset)
    assert [n for n, _, _ in rows] == sorted(n for n, _, _ in rows)
    assert len(rows) == summary.rows_received
    assert {reason for _, reason, _ in rows} == {detail}
    assert all(row[column] is None for _, _, row in rows)
    assert raw_rows(settings, TABLE_OF[dataset]) == 0
    assert query(settings, "select count(*) from audit.watermarks") == [(0,)]
    failed = failed_validations(settings, dataset)
    assert failed[f"expect_column_to_exist({column})"] == [("critical", None, None)]


# --- warnings load ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "column", "overrides"),
    [
        (MEASURES, "last_updated", {}),
        # The bundled lag for the export is a month; judge it at two days here.
        (RESEARCH, "call_at", {"university__research_csv": {"lag_hours": 48}}),
    ],
)
def test_stale_feed_fails_the_freshness_warning_and_still_loads(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    dataset: str,
    column: str,
    overrides: dict[str, Any],
) -> None:
    summary, settings = run(tmp_path, emulators, dataset, {"stale_feed": True}, **overrides)
    assert summary.statuses == {"loaded": summary.batches}
    assert summary.rows_quarantined == 0 and summary.rows_loaded > 0
    assert_ledger_balances(settings, summary)
    failed = failed_validations(settings, dataset)
    freshness = f"expect_column_max_to_be_between({column})"
    assert set(failed) == {freshness}
    [(severity, _, observed)] = failed[freshness]
    assert severity == "warning" and observed


# --- rows that cannot be typed ----------------------------------------------------------------


def test_bad_encoding_is_a_parse_reject_naming_the_column(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators, RESEARCH, {"bad_encoding": 2})
    assert summary.statuses == {"loaded": 1} and summary.rows_quarantined == 2
    assert_ledger_balances(settings, summary)
    rows = query(
        settings,
        "select row_number, reason, payload from quarantine.rows where dataset = ?",
        [RESEARCH],
    )
    assert len(rows) == 2
    for number, reason, payload in rows:
        assert number >= 2
        assert reason.startswith("column 'hospital_th': byte 0x") and "not valid cp874" in reason
        assert "\\x" in payload  # the bytes as received, shown escaped
    assert failed_validations(settings, RESEARCH) == {}
