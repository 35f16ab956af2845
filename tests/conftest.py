"""Shared fixtures: one Prefect API, one set of emulators and one demo warehouse per session."""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# The suite's calendar, whatever the wall clock says: every emulator, connector, check, dbt build
# and export takes this day as today. SMARTCITY_TEST_TODAY moves it (e.g. to the 1st of a month).
os.environ["SMARTCITY_TODAY"] = os.environ.get("SMARTCITY_TEST_TODAY", "2026-11-18")

from collections.abc import Iterator

import pytest

from emulators.server import Emulator
from tests.support import TEST_CLOCK, write_config


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect API for the whole session (it costs ~30 s of CPU to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, Emulator]]:
    """Every emulator on a free loopback port, with 30 days of history."""
    from emulators.registry import running

    with running(TEST_CLOCK, {}) as started:
        yield started


@pytest.fixture(autouse=True)
def _no_faults_leak(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fault knobs set by one test never reach the next, whichever emulator fixture it used."""
    yield
    for value in request.node.funcargs.values():
        started = value.values() if isinstance(value, dict) else [value]
        for emulator in started:
            if isinstance(emulator, Emulator):
                emulator.faults.reset()


@pytest.fixture(scope="session")
def programme(prefect_api: None, emulators: dict[str, Emulator], tmp_path_factory):
    """The whole programme run once against the emulators: the session's shared warehouse."""
    from flows.config import load_settings
    from flows.programme import programme_daily

    directory = tmp_path_factory.mktemp("programme")
    # a day's lag for the live feed, so that tests reading this warehouse later still find it fresh
    config = write_config(directory, emulators, transit__gtfs_rt={"lag_hours": 24})
    programme_daily(config=str(config), data_dir=str(directory / "data"))
    return load_settings(config, directory / "data")
