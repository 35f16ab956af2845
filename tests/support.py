"""Helpers shared by the tests: the session's emulated calendar and a config pointed at it."""

from __future__ import annotations

import shutil
from pathlib import Path

from emulators.server import Emulator
from emulators.synthetic import Clock
from flows.config import Settings, load_settings

# The flows' connectors read the wall clock ("up to yesterday"), so the session's emulators live
# in the real today too; connector tests that need a fixed date pin their own clock.
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
