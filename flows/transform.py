"""The dbt project (``dbt_project/``) run by Prefect: every model and test a task of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger

from connectors import clock
from flows.config import Settings
from flows.runs import flow_settings, recorded_run

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
_FAILED = {"error", "fail", "runtime error"}


class DbtError(RuntimeError):
    """dbt failed: the message names each failed node and the first line of its error."""


@flow(name="transform")
def transform(
    config: str | None = None, data_dir: str | None = None, full_refresh: bool = False
) -> None:
    """``dbt build``: staging, intermediate and marts with their tests, on the warehouse."""
    settings = flow_settings(config, data_dir)
    logger = get_run_logger()
    changed = not full_refresh and kpi_columns_changed(settings)
    if changed:
        logger.info("the KPI table's columns have changed since it was built: rebuilding it whole")
    full_refresh = full_refresh or changed
    with recorded_run(settings, ["dbt"]) as run_id:
        logger.info("dbt build%s: the KPI models and their tests", " (full refresh)" * full_refresh)
        result = run_dbt(settings, ["build", *(["--full-refresh"] if full_refresh else [])], run_id)
        logger.info("dbt build: %s", _tally(result))


def kpi_columns_changed(settings: Settings) -> bool:
    """Whether the stored ``marts.fct_kpi_values`` has other columns than its contract declares
    (it was built by an older version): an incremental build cannot fill new columns for the
    periods it keeps, so the table is rebuilt whole."""
    if not settings.warehouse.path.exists():
        return False
    with settings.warehouse.read() as con:
        stored = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'fct_kpi_values' "
                "order by ordinal_position"
            ).fetchall()
        ]
    return bool(stored) and stored != _contracted_columns("fct_kpi_values")


def _contracted_columns(model: str) -> list[str]:
    path = DBT_PROJECT / "models" / "marts" / "_marts__models.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    [found] = [m for m in document["models"] if m["name"] == model]
    return [column["name"] for column in found["columns"]]


def _tally(result: Any) -> str:
    """How dbt's nodes ended, e.g. ``323 nodes: 120 success, 203 pass``."""
    statuses: dict[str, int] = {}
    for node in getattr(result.result, "results", None) or []:
        status = str(getattr(node.status, "value", node.status))
        statuses[status] = statuses.get(status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    return f"{sum(statuses.values())} nodes: {counts}"


def run_dbt(settings: Settings, args: list[str], run_id: str | None = None) -> Any:
    """Invoke dbt on this data directory's warehouse; raises naming the node that failed.

    Inside a flow run, prefect-dbt turns each node into a Prefect task. Compiled files and logs
    go under ``<data>/dbt/``, so two data directories never share dbt's state.
    """
    from dbt_common.events.base_types import EventLevel
    from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

    os.environ["SMARTCITY_WAREHOUSE"] = str(settings.warehouse.path.resolve())
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    work = settings.data_dir.resolve() / "dbt"
    runner = PrefectDbtRunner(
        settings=PrefectDbtSettings(
            project_dir=DBT_PROJECT,
            profiles_dir=DBT_PROJECT,
            target_path=work / "target",
            # set, not derived from Prefect's level: prefect-dbt turns WARNING into "warning",
            # which dbt does not know ("warn")
            log_level=EventLevel.INFO,
        ),
        raise_on_failure=False,  # raised below, in one line per failed node
    )
    # "today" decides which periods are complete: the pipeline's clock, never dbt's own
    variables = {"today": clock.today().isoformat(), **({"run_id": run_id} if run_id else {})}
    result = runner.invoke(
        [*args, "--log-path", str(work / "logs"), "--vars", json.dumps(variables)]
    )
    if not result.success:
        raise DbtError(f"dbt {args[0]} failed: {_failures(result)}")
    return result


def _failures(result: Any) -> str:
    """Each failed node with the gist of its message, in one line."""
    if result.exception is not None:
        return _one_line(str(result.exception))
    failed = [
        f"{node.node.resource_type} {node.node.name}: {_one_line(node.message or '')}"
        for node in getattr(result.result, "results", None) or []
        if str(getattr(node.status, "value", node.status)) in _FAILED
    ]
    return "; ".join(failed) or "no node failed, but dbt did not succeed (see its log)"


def _one_line(text: str, limit: int = 300) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 1] + "…"
