"""What every flow shares: its settings from JSON-friendly parameters, and its ledger row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.runtime import flow_run

from flows.config import Settings, load_settings
from warehouse import audit


def flow_settings(config: str | None, data_dir: str | None) -> Settings:
    return load_settings(Path(config) if config else None, Path(data_dir) if data_dir else None)


@contextmanager
def recorded_run(settings: Settings, datasets: list[str]) -> Iterator[str]:
    """Write this flow run's row to ``audit.runs`` at start, and close it with its outcome."""
    run_id = str(flow_run.id)
    root_run_id = str(flow_run.root_flow_run_id or run_id)
    audit.start_run(settings.warehouse, run_id, root_run_id, flow_run.flow_name, datasets)
    try:
        yield run_id
    except BaseException as error:
        audit.finish_run(settings.warehouse, run_id, error=f"{type(error).__name__}: {error}")
        raise
    audit.finish_run(settings.warehouse, run_id)
