"""``smartcity serve``: every deployment of ``prefect.yaml`` on its schedule, from one process.

``prefect.yaml`` is the one source of truth for names, entrypoints, crons, time zones and
parameters: ``prefect deploy --all`` reads it for a Prefect server and its workers, and this
module reads it for :func:`prefect.serve`. Build, push, pull and work-pool settings matter to
workers only and are ignored here: the flows run in this checkout.

Served runs go one at a time (``limit=1``): DuckDB allows one writing process per file, and each
run is a process of its own. A run that comes due while another runs waits for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as ``prefect.yaml`` declares it."""

    name: str
    entrypoint: str  # e.g. flows/ingest.py:city
    schedules: tuple[tuple[str, str | None], ...]  # (cron, timezone)
    parameters: Mapping[str, Any]
    description: str | None = None
    tags: tuple[str, ...] = ()


def serve(config: str | None = None, data_dir: str | None = None) -> None:
    """Serve every deployment of ``prefect.yaml`` until stopped (Ctrl-C pauses the schedules).

    ``config`` and ``data_dir``, when given, become parameters of every deployment (as absolute
    paths), so the served runs read the same configuration and warehouse as the command.
    """
    from prefect import serve as prefect_serve

    overrides = {
        name: str(Path(value).resolve())
        for name, value in (("config", config), ("data_dir", data_dir))
        if value
    }
    deployments = [_to_deployment(spec, overrides) for spec in read_deployments()]
    prefect_serve(*deployments, limit=1)


def read_deployments(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """The deployments of ``prefect.yaml``; a malformed entry fails naming it."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = []
    for number, entry in enumerate(document.get("deployments") or [], start=1):
        where = f"{path}: deployment {number} ({entry.get('name', 'no name')})"
        if not entry.get("name") or ":" not in str(entry.get("entrypoint", "")):
            raise ValueError(f"{where}: needs a name and an entrypoint path.py:flow")
        schedules = tuple(
            (str(item["cron"]), item.get("timezone")) for item in entry.get("schedules") or []
        )
        specs.append(
            DeploymentSpec(
                name=str(entry["name"]),
                entrypoint=str(entry["entrypoint"]),
                schedules=schedules,
                parameters=dict(entry.get("parameters") or {}),
                description=entry.get("description"),
                tags=tuple(entry.get("tags") or ()),
            )
        )
    return specs


def load_flow(entrypoint: str) -> Any:
    """The flow at ``path/to/module.py:function``, imported as a module of this project."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def _to_deployment(spec: DeploymentSpec, overrides: Mapping[str, str]) -> Any:
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    return load_flow(spec.entrypoint).to_deployment(
        name=spec.name,
        description=spec.description,
        tags=list(spec.tags),
        parameters={**spec.parameters, **overrides},
        schedules=[Cron(cron, timezone=timezone) for cron, timezone in spec.schedules],
        # by module, so the runs find the flow whatever directory `smartcity serve` ran in
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
