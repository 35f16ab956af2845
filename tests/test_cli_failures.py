"""How `smartcity` fails, as a steward sees it in a terminal: one line on stderr, the run id and
the report path on stdout, no landing of a file of the wrong kind, no long wait on a dead source.

Each command runs as its own process (the real entry point), so stderr is exactly what a
terminal would show; flows use the session's Prefect API instead of starting their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from connectors.base import Source, UnreachableError
from connectors.http import fetch, make_client
from tests.support import write_config

ENTRY = [sys.executable, "-c", "from flows.cli import main; main()"]


def smartcity(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def session_api() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value()}


@pytest.mark.flow
def test_a_source_that_refuses_connections_fails_at_once_naming_its_url(
    prefect_api: None, emulators: dict, tmp_path: Path
) -> None:
    port = closed_port()
    config = write_config(tmp_path, emulators, city__population={"url": f"http://127.0.0.1:{port}"})
    data = tmp_path / "data"
    done = smartcity(
        "--config", str(config), "--data-dir", str(data), "ingest", "city.population",
        env=session_api(),
    )  # fmt: skip
    assert done.returncode == 1
    error = one_line(done.stderr)
    assert error.startswith("error: IngestError: city.population: cannot connect to ")
    assert f"http://127.0.0.1:{port}/" in error
    footer = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    run_id = footer["run id"]
    assert Path(footer["report"]) == data / "reports" / "quality" / run_id / "index.html"
    assert Path(footer["report"]).is_file()
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        [(status, error_text)] = con.execute(
            "select status, error from audit.runs where run_id = ?", [run_id]
        ).fetchall()
    assert status == "failed" and "cannot connect" in error_text
    # quiet on the terminal, but the run's log still reaches Prefect (the UI shows it)
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)]))
        )
    assert any("data-quality report" in log.message for log in logs), logs


@pytest.mark.flow
def test_a_refused_connection_is_not_retried_by_the_task(prefect_api: None) -> None:
    """The dataset's task gives up at once: one attempt, not three after 10 and 60 s waits."""
    from flows.ingest import worth_retrying

    class Failed:
        data = UnreachableError("city.population: cannot connect to http://127.0.0.1:9/")

    assert worth_retrying(None, None, Failed()) is False
    Failed.data = RuntimeError("city.population: GET ... answered HTTP 503")
    assert worth_retrying(None, None, Failed()) is True


def test_a_refused_connection_is_not_retried_by_the_connector() -> None:
    calls: list[httpx.Request] = []
    waits: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    source = Source(dataset="city.population", url="http://127.0.0.1:9", max_retries=4)
    with (
        make_client(source, httpx.MockTransport(refuse)) as client,
        pytest.raises(UnreachableError) as refused,
    ):
        fetch(client, source, "/api/3/action/package_show", sleep=waits.append)
    assert len(calls) == 1 and waits == []
    assert "http://127.0.0.1:9/api/3/action/package_show" in str(refused.value)
    assert "Connection refused" in str(refused.value)


def test_a_file_of_another_kind_is_refused_before_anything_is_landed(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/sh\n")
    data = tmp_path / "data"
    done = smartcity("--data-dir", str(data), "ingest-file", "transit.gtfs", str(passwd))
    assert done.returncode == 1
    error = one_line(done.stderr)
    assert error.startswith(f"error: WrongKindError: transit.gtfs: {passwd} refused, nothing")
    assert "zip" in error
    assert not data.exists()  # no landing zone, no warehouse, no ledger row
    assert done.stdout == ""


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    done = smartcity("-v", "--data-dir", str(tmp_path), "ingest-file", "transit.gtfs", str(passwd))
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: WrongKindError: transit.gtfs:")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["backfill", "citizens.requests", "--from", "2026-13-01", "--to", "2026-11-02"],
            "error: ValueError: --from: expected a date YYYY-MM-DD, got '2026-13-01'",
        ),
        (
            ["backfill", "citizens.requests", "--from", "2026-11-01", "--to", "yesterday"],
            "error: ValueError: --to: expected a date YYYY-MM-DD, got 'yesterday'",
        ),
        (
            ["--today", "1/12/2026", "status"],
            "error: ValueError: --today: expected a date YYYY-MM-DD, got '1/12/2026'",
        ),
    ],
)
def test_dates_on_the_command_line_are_checked_naming_the_option(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    done = smartcity("--data-dir", str(tmp_path), *args)
    assert done.returncode == 1
    assert one_line(done.stderr) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest"], "error: Missing argument 'datasets'. (see `smartcity ingest --help`)"),
        (["ingest", "--urll", "x"], "error: No such option: --urll"),
        (["frobnicate"], "error: No such command 'frobnicate'."),
    ],
)
def test_usage_errors_are_one_line_too(args: list[str], expected: str) -> None:
    done = smartcity(*args)
    assert done.returncode == 2
    assert one_line(done.stderr).startswith(expected)


def test_help_still_prints_and_succeeds() -> None:
    for args in ([], ["--help"], ["ingest", "--help"]):
        done = smartcity(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Usage:" in done.stdout and done.stderr == ""
