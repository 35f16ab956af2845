"""Run the reviewed suites in ``gx/`` on each batch, before it is loaded.

Each table of a batch is copied into an in-memory DuckDB database (``:memory:batches``, reached
only through GX's own engine) under the table's name, with each row's position as ``_row``;
GX's SQL datasource then validates it there, so the rows a check fails come back by position.
Every result is also kept in GX's validation store under the data directory, from which
:meth:`Gate.build_docs` renders Data Docs that open offline (:mod:`expectations.data_docs`).

Suites are named after the raw table. Each expectation's ``meta`` carries ``severity``
(``critical`` or ``warning``); ``"scope": "latest"`` marks a freshness check, run only on the
last non-empty batch of a run. Queries that judge time use the macros ``pipeline_now()`` and
``pipeline_today()`` (Asia/Bangkok): the pipeline's clock, never DuckDB's. Suites get these
parameters: ``fresh_after`` (a UTC timestamp) and ``fresh_after_date``; ``min_rows``/``max_rows``
(half and twice the rows the previous batch from the same source put in this table, when there
was one).
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors import clock
from connectors.base import ROW, Table
from expectations.data_docs import make_offline
from warehouse.loader import ARROW_TYPES
from warehouse.validation import CRITICAL, Checks, Outcome

PROJECT = Path(__file__).resolve().parent / "gx"
OUTPUT_VARIABLE = "SMARTCITY_GX_OUTPUT"  # great_expectations.yml writes results and docs there
SCOPE_LATEST = "latest"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Gate:
    """A :data:`warehouse.validation.Validate` backed by Great Expectations."""

    def __init__(self, output_dir: Path):
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        os.environ[OUTPUT_VARIABLE] = str(Path(output_dir).resolve())
        import great_expectations as gx

        import expectations.duckdb_datasource  # noqa: F401 - registers the ``duckdb`` type

        self.output_dir = Path(output_dir)
        self.context = gx.get_context(mode="file", project_root_dir=str(PROJECT.parent))
        self.datasource = self.context.data_sources.get("batches")
        self._suites: dict[str, Any] = {}
        self._stored: list[Any] = []
        self._lock = threading.Lock()

    def __call__(
        self, table: Table, rows: list[dict[str, Any]], missing: set[str], checks: Checks
    ) -> list[Outcome]:
        import great_expectations as gx
        from great_expectations.validator.v1_validator import Validator

        suite = self.suite(table.name)
        judge_freshness = checks.fresh_after is not None and bool(rows)
        chosen = [
            e for e in suite.expectations if judge_freshness or e.meta.get("scope") != SCOPE_LATEST
        ]
        with self._lock:
            self._stage(table, rows, missing)
            validator = Validator(
                batch_definition=self.datasource.get_asset(table.name).get_batch_definition(
                    "whole"
                ),
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]},
            )
            result = validator.validate_expectation_suite(
                gx.ExpectationSuite(name=suite.name, expectations=chosen),
                _parameters(table.name, checks),
            )
            self._store(suite.name, result, checks)
            outcomes = {id(item): self._outcome(table.name, item) for item in result.results}
        # GX returns results in its own order; the suite's order (schema checks first) is the
        # order a reader expects, and the first failure in it names a batch set aside whole.
        order = {check_name(e.configuration): i for i, e in enumerate(chosen)}
        return sorted(outcomes.values(), key=lambda o: order.get(o.expectation, len(order)))

    def suite(self, name: str) -> Any:
        if name not in self._suites:
            self._suites[name] = self.context.suites.get(name)
        return self._suites[name]

    def build_docs(self) -> Path:
        """Render Data Docs for the results stored since the last build and their suites, with
        local assets only (:mod:`expectations.data_docs`, so they open offline); the site's
        index."""
        site = self.output_dir / "data_docs"
        with self._lock:
            stored, self._stored = self._stored, []
            if stored:
                started = time.time()
                self.context.build_data_docs(resource_identifiers=[*stored, *_suites_of(stored)])
                make_offline(site, since=started)
        return site / "index.html"

    def _stage(self, table: Table, rows: list[dict[str, Any]], missing: set[str]) -> None:
        """Replace the in-memory copy of ``table`` with this batch, leaving out missing columns."""
        columns = [(ROW, pa.int64())] + [
            (name, ARROW_TYPES[type_])
            for name, type_ in table.columns.items()
            if name not in missing
        ]
        batch = pa.Table.from_pylist(rows, schema=pa.schema(columns))
        connection = self.datasource.get_engine().raw_connection()
        try:
            duck = connection.driver_connection
            duck.register("staged", batch)
            duck.execute(f"create or replace table {table.name} as select * from staged")
            duck.unregister("staged")
            # the pipeline's clock for checks against "now" (SMARTCITY_TODAY pins its day)
            now = clock.now()
            duck.execute(
                f"create or replace macro pipeline_now() as timestamptz '{now.isoformat()}'"
            )
            duck.execute(
                f"create or replace macro pipeline_today() as date '{clock.today().isoformat()}'"
            )
            connection.commit()
        finally:
            connection.close()

    def _outcome(self, table: str, item: Any) -> Outcome:
        config = item.expectation_config
        result = item.result or {}
        error = _exception(item)
        failed_rows = () if item.success or error else self._failed_rows(table, config, result)
        return Outcome(
            table=table,
            expectation=check_name(config),
            severity=config.meta.get("severity", CRITICAL),
            success=bool(item.success),
            observed=f"could not run: {error}" if error else _observed(result),
            unexpected_count=result.get("unexpected_count", len(failed_rows) or None),
            row_level=bool(failed_rows),
            failed_rows=failed_rows,
        )

    def _failed_rows(self, table: str, config: Any, result: dict[str, Any]) -> tuple[int, ...]:
        """Positions of every row the expectation failed; empty if it judges the table as a whole.

        Map expectations list them, except compound uniqueness, whose duplicates are found here;
        an ``unexpected_rows_expectation`` whose query selects ``_row`` names them by that query.
        """
        listed = result.get("unexpected_index_list")
        if listed is not None and len(listed) == result.get("unexpected_count"):
            return tuple(entry[ROW] for entry in listed)
        query = None
        if config.type == "expect_compound_columns_to_be_unique":
            columns = ", ".join(f'"{c}"' for c in config.kwargs["column_list"])
            query = f"select {ROW} from {table} qualify count(*) over (partition by {columns}) > 1"
        elif config.type == "unexpected_rows_expectation":
            query = config.kwargs["unexpected_rows_query"].format(batch=table)  # as GX does
        if not isinstance(query, str):
            return ()
        connection = self.datasource.get_engine().raw_connection()
        try:
            found = connection.driver_connection.execute(query)
            names = [d[0] for d in found.description]
            if ROW not in names:
                return ()
            index = names.index(ROW)
            return tuple(sorted({row[index] for row in found.fetchall()}))
        finally:
            connection.close()

    def _store(self, suite_name: str, result: Any, checks: Checks) -> None:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run = RunIdentifier(run_name=checks.run_id or "ad-hoc", run_time=datetime.now(UTC))
        identifier = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=run,
            batch_identifier=checks.batch_id,
        )
        result.meta["run_id"] = run
        result.meta["batch_id"] = checks.batch_id
        self.context.validation_results_store.set(identifier, result)
        self._stored.append(identifier)


def _suites_of(results: list[Any]) -> list[Any]:
    """The suites of these validation results, for their pages (the index links to them)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    names = sorted({r.expectation_suite_identifier.name for r in results})
    return [ExpectationSuiteIdentifier(name=name) for name in names]


def _parameters(table: str, checks: Checks) -> dict[str, Any]:
    fresh_after = checks.fresh_after or _EPOCH
    previous = checks.previous_rows.get(table)
    return {
        "fresh_after": fresh_after,
        "fresh_after_date": fresh_after.date() if checks.fresh_after else date(1970, 1, 1),
        "min_rows": previous // 2 if previous else 0,
        "max_rows": previous * 2 if previous else None,
    }


def check_name(config: Any) -> str:
    """The name a check goes by in audit.validations and the reports: its type and subject."""
    kwargs = config.kwargs
    if config.type == "unexpected_rows_expectation":
        described = config.description or kwargs.get("description")
        return f"{config.type}({described or kwargs['unexpected_rows_query']})"
    subject = (
        kwargs.get("column")
        or kwargs.get("column_list")
        or [
            kwargs.get("column_A"),
            kwargs.get("column_B"),
        ]
    )
    if isinstance(subject, list):
        subject = ", ".join(str(s) for s in subject if s)
    return f"{config.type}({subject})" if subject else config.type


def _exception(item: Any) -> str | None:
    """The message of an exception the expectation raised (GX nests it by metric at times)."""
    info = item.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "an exception")
    return None


def _observed(result: dict[str, Any]) -> str | None:
    if "observed_value" in result:
        return json.dumps(result["observed_value"], default=str, ensure_ascii=False)
    if result.get("unexpected_count"):
        sample = result.get("partial_unexpected_list") or []
        return json.dumps(
            {"unexpected": result["unexpected_count"], "examples": sample[:3]},
            default=str,
            ensure_ascii=False,
        )
    return None
