"""prefect.yaml: every flow scheduled at its datasets' cadence, and `smartcity serve` serving it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.registry import DATASETS, STAKEHOLDERS, datasets_of
from flows.config import BUNDLED_CONFIG, load_settings
from flows.serve import PREFECT_YAML
from tests.support import write_config

ROOT = PREFECT_YAML.parent
BANGKOK = "Asia/Bangkok"


def declared() -> list[dict[str, Any]]:
    """The deployments exactly as `prefect deploy` reads them."""
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]


def flow_of(deployment: dict[str, Any]) -> str:
    """The flow's Prefect name: the entrypoint's function (programme_daily and the rest)."""
    return deployment["entrypoint"].rpartition(":")[2]


def test_every_dataset_is_scheduled_once_at_its_cadence_in_smartcity_toml() -> None:
    sources = load_settings(BUNDLED_CONFIG, env={}).sources
    scheduled: list[str] = []
    for deployment in declared():
        stakeholder = flow_of(deployment)
        if stakeholder not in STAKEHOLDERS:
            continue
        datasets = (deployment.get("parameters") or {}).get("datasets")
        datasets = datasets or datasets_of(stakeholder)
        crons = [schedule["cron"] for schedule in deployment["schedules"]]
        for dataset in datasets:
            assert dataset in datasets_of(stakeholder), (deployment["name"], dataset)
            assert crons == [sources[dataset].schedule], (deployment["name"], dataset)
        scheduled += datasets
    assert sorted(scheduled) == sorted(DATASETS)  # each dataset once, none left out


def test_natural_cadences_and_bangkok_time() -> None:
    cron = {(flow_of(d), d["name"]): [s["cron"] for s in d["schedules"]] for d in declared()}
    assert cron[("transit", "realtime")] == ["* * * * *"]
    assert cron[("citizens", "requests")] == ["*/15 * * * *"]
    assert cron[("city", "sensors")] == ["*/15 * * * *"]
    for flow_name in ("transform", "export", "programme_daily", "university"):
        [(minute, hour, *rest)] = [c.split() for (f, _), [c] in cron.items() if f == flow_name]
        assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"], flow_name
    for deployment in declared():
        assert [s["timezone"] for s in deployment["schedules"]] == [BANGKOK], deployment["name"]
        assert deployment["work_pool"]["name"] == "smartcity"


def test_a_stakeholder_flow_runs_only_its_own_datasets() -> None:
    from flows.ingest import city

    with pytest.raises(ValueError, match="city: datasets must be some of"):
        city.fn(datasets=["transit.gtfs"])


@pytest.mark.flow
def test_serve_registers_every_deployment_with_its_schedule(
    prefect_api: None, emulators: dict, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    config = write_config(tmp_path, emulators)
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        # one poll at start, before any run is scheduled: the test registers, it does not run
        "PREFECT_RUNNER_POLL_FREQUENCY": "3600",
        "PREFECT_LOGGING_LEVEL": "DEBUG",  # the runner says when it has polled: it is serving
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "DEBUG",  # not quietened by an earlier command
    }
    command = [sys.executable, "-m", "flows.cli", "--config", str(config)]
    server = Served([*command, "--data-dir", str(data_dir), "serve"], env)
    expected = {(flow_of(d), d["name"]): d for d in declared()}
    with get_client(sync_client=True) as client:
        try:
            found = server.wait_for(client, set(expected))
            for key, deployment in expected.items():
                served = found[key]
                schedules = [(s.schedule.cron, s.schedule.timezone) for s in served.schedules]
                assert schedules == [(s["cron"], BANGKOK) for s in deployment["schedules"]], key
                assert all(s.active for s in served.schedules), key
                assert served.parameters == {
                    **(deployment.get("parameters") or {}),
                    "config": str(config.resolve()),
                    "data_dir": str(data_dir.resolve()),
                }, key
                assert served.entrypoint.startswith("flows."), key
        finally:
            server.stop()
        assert server.process.returncode == 0, server.output()
        # Ctrl-C pauses the schedules it served: nothing runs once the steward stops serving
        for key in expected:
            assert client.read_deployment(found[key].id).paused, (key, server.output())


class Served:
    """``smartcity serve`` in a process group of its own, its output collected line by line."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so that its runs, if any, stop with it
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, client: Any, wanted: set, timeout: float = 180) -> dict:
        """The deployments, once all of ``wanted`` are registered and the runner has polled.

        Before its first poll the runner is still starting, and a Ctrl-C then would stop it
        without pausing anything.
        """
        deadline = time.monotonic() + timeout
        found: dict = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                pytest.fail(f"smartcity serve exited early:\n{self.output()}")
            flows = {flow.id: flow.name for flow in client.read_flows()}
            found = {(flows[d.flow_id], d.name): d for d in client.read_deployments()}
            if wanted <= set(found) and "Discovered" in self.output():
                return found
            time.sleep(1)
        pytest.fail(f"not served in {timeout} s: {sorted(wanted - set(found))}\n{self.output()}")

    def stop(self) -> None:
        """Ctrl-C, as a steward would; the whole process group if it does not stop in time."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)
