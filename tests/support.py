"""Helpers shared by the tests: the session's emulated calendar and a config pointed at it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from connectors import clock
from emulators.server import Emulator
from emulators.synthetic import Clock
from flows.config import Settings, load_settings

# The session's emulated calendar: 30 days up to the suite's today (SMARTCITY_TODAY, set by
# conftest), the day the flows' connectors, checks and dbt take as today too.
TEST_CLOCK = Clock.now(history_days=30)


def write_config(directory: Path, emulators: dict[str, Emulator], **overrides: dict) -> Path:
    """A configuration file like the bundled one, pointed at the session's emulators.

    ``overrides`` maps a dataset name (with ``_`` for ``.``, e.g. ``city__population``) to settings.
    """
    from connectors.registry import DATASETS

    emulator_of = {"city.sensors": "sensors"}
    lines = [
        "[defaults]",
        "timeout_seconds = 10",
        "backoff_seconds = 0.05",
        "max_retries = 3",
        "",
        "[emulators]",
        f"history_days = {TEST_CLOCK.history_days}",
    ]
    bundled = _bundled_options()
    for dataset in DATASETS:
        stakeholder = emulator_of.get(dataset, dataset.split(".")[0])
        settings = {"url": emulators[stakeholder].url, **bundled.get(dataset, {})}
        settings |= overrides.get(dataset.replace(".", "__"), {})
        lines += ["", f'[datasets."{dataset}"]']
        lines += [f"{key} = {_toml(value)}" for key, value in settings.items()]
    path = directory / "smartcity.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _bundled_options() -> dict[str, dict]:
    """Per dataset, the bundled file's settings other than url (options, page sizes)."""
    import tomllib

    from flows.config import BUNDLED_CONFIG

    document = tomllib.loads(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    return {
        name: {k: v for k, v in values.items() if k != "url"}
        for name, values in document["datasets"].items()
    }


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def copy_of(programme: Settings, directory: Path) -> Settings:
    """The programme's warehouse in a data directory of its own, for a test that writes to it
    (its write-ahead log too; the landing zone is not copied)."""
    (directory / "data").mkdir(parents=True)
    for path in programme.data_dir.glob(f"{programme.warehouse.path.name}*"):
        shutil.copy2(path, directory / "data" / path.name)
    return load_settings(programme.config_path, directory / "data")


def dbt(warehouse: Path, work: Path, *args: str) -> tuple[Any, list[str]]:
    """Run dbt (plainly, outside Prefect) on ``warehouse``: its result and its warnings; today
    is the suite's (var ``today``) unless ``args`` give ``--vars``."""
    from dbt.cli.main import dbtRunner

    from flows.transform import DBT_PROJECT

    warnings: list[str] = []

    def collect(event: Any) -> None:
        if event.info.level == "warn":
            warnings.append(event.info.msg)

    os.environ["SMARTCITY_WAREHOUSE"] = str(warehouse)
    today = ["--vars", json.dumps({"today": clock.today().isoformat()})]  # as the flows do
    result = dbtRunner(callbacks=[collect]).invoke(
        [
            *args,
            *(today if "--vars" not in args else []),
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ]
    )
    return result, warnings
