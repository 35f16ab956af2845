"""The dbt project (``dbt_project/``) run by Prefect: every model and test a task of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prefect import flow

from flows.config import Settings
from flows.runs import flow_settings, recorded_run

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"


@flow(name="transform")
def transform(
    config: str | None = None, data_dir: str | None = None, full_refresh: bool = False
) -> None:
    """``dbt build``: staging, intermediate and marts with their tests, on the warehouse."""
    settings = flow_settings(config, data_dir)
    with recorded_run(settings, ["dbt"]) as run_id:
        run_dbt(settings, ["build", *(["--full-refresh"] if full_refresh else [])], run_id)


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
        raise_on_failure=True,
    )
    variables = ["--vars", json.dumps({"run_id": run_id})] if run_id else []
    return runner.invoke([*args, "--log-path", str(work / "logs"), *variables])
