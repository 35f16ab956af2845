"""Configuration: one TOML file, overridden by environment variables; credentials from the env only.

Lookup of the file: ``--config``, else ``$SMARTCITY_CONFIG``, else ``./smartcity.toml``, else the
file bundled with the project. Per dataset, ``SMARTCITY_<DATASET>_<FIELD>`` overrides a field
(``<DATASET>`` is the name upper-cased with ``.`` → ``_``, e.g. ``SMARTCITY_CITY_POPULATION_URL``),
and ``SMARTCITY_<DATASET>_TOKEN`` supplies a bearer token. ``SMARTCITY_DATA_DIR`` moves the data.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors.base import Source
from connectors.registry import DATASETS
from warehouse.db import Warehouse

BUNDLED_CONFIG = Path(__file__).resolve().parent.parent / "smartcity.toml"
_SETTABLE = {
    "url",
    "page_size",
    "timeout_seconds",
    "max_retries",
    "backoff_seconds",
    "max_retry_after_seconds",
    "lag_hours",
    "schedule",
    "options",
}
_CASTS = {
    "page_size": int,
    "max_retries": int,
    "timeout_seconds": float,
    "backoff_seconds": float,
    "max_retry_after_seconds": float,
    "lag_hours": float,
}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    config_path: Path
    data_dir: Path
    sources: Mapping[str, Source]
    emulator_ports: Mapping[str, int]
    emulator_history_days: int

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.data_dir)

    def source(self, dataset: str, url: str | None = None) -> Source:
        source = self.sources[dataset]
        if url:
            return replace(source, url=url)
        if not source.url:
            raise ConfigError(
                f"{self.config_path}: {dataset} has no url (nor {_env_name(dataset, 'url')})"
            )
        return source


def load_settings(
    config: Path | None = None,
    data_dir: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    path = _config_path(config, env)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read configuration {path}: {error}") from None
    defaults = document.get("defaults", {})
    configured = document.get("datasets", {})
    unknown = sorted(set(configured) - set(DATASETS))
    if unknown:
        raise ConfigError(f"{path}: unknown dataset(s) {', '.join(unknown)}")
    sources = {}
    for dataset in DATASETS:
        values = {**defaults, **configured.get(dataset, {})}
        sources[dataset] = _source(path, dataset, values, env)
    emulators = document.get("emulators", {})
    return Settings(
        config_path=path,
        data_dir=Path(data_dir or env.get("SMARTCITY_DATA_DIR") or "data"),
        sources=sources,
        emulator_ports={k: int(v) for k, v in emulators.get("ports", {}).items()},
        emulator_history_days=int(emulators.get("history_days", 365)),
    )


def _config_path(config: Path | None, env: Mapping[str, str]) -> Path:
    if config:
        return Path(config)
    if env.get("SMARTCITY_CONFIG"):
        return Path(env["SMARTCITY_CONFIG"])
    local = Path("smartcity.toml")
    return local if local.exists() else BUNDLED_CONFIG


def _source(path: Path, dataset: str, values: dict[str, Any], env: Mapping[str, str]) -> Source:
    if "token" in values:
        raise ConfigError(
            f"{path}: {dataset} has a token in the file; credentials come only from the "
            f"environment ({_env_name(dataset, 'token')})"
        )
    unknown = sorted(set(values) - _SETTABLE)
    if unknown:
        raise ConfigError(f"{path}: {dataset}: unknown setting(s) {', '.join(unknown)}")
    for field in _SETTABLE - {"options"}:
        override = env.get(_env_name(dataset, field))
        if override is not None:
            values[field] = override
    try:
        typed = {k: _CASTS[k](v) if k in _CASTS else v for k, v in values.items()}
    except ValueError as error:
        raise ConfigError(f"{path}: {dataset}: {error}") from None
    typed.setdefault("url", "")  # Settings.source() refuses a dataset without one when used
    return Source(dataset=dataset, token=env.get(_env_name(dataset, "token")), **typed)


def _env_name(dataset: str, field: str) -> str:
    return f"SMARTCITY_{dataset.upper().replace('.', '_')}_{field.upper()}"
