"""Every dataset the programme ingests, and the connector module that reads it."""

from __future__ import annotations

import importlib
from types import ModuleType

DATASETS: tuple[str, ...] = (
    "city.population",
    "city.mice_events",
    "city.hotel_occupancy",
    "city.solar",
    "city.sensors",
    "transit.gtfs",
    "transit.gtfs_rt",
    "transit.ridership",
    "university.measures",
    "university.research_csv",
    "citizens.requests",
)

STAKEHOLDERS: tuple[str, ...] = ("city", "transit", "university", "citizens")


class UnknownDatasetError(KeyError):
    def __str__(self) -> str:
        return f"unknown dataset {self.args[0]!r}; known: {', '.join(DATASETS)}"


def connector_for(dataset: str) -> ModuleType:
    """The connector module of ``dataset`` (imported on first use)."""
    if dataset not in DATASETS:
        raise UnknownDatasetError(dataset)
    return importlib.import_module(f"connectors.{dataset.replace('.', '_')}")


def datasets_of(stakeholder: str) -> list[str]:
    return [d for d in DATASETS if d.split(".", 1)[0] == stakeholder]
