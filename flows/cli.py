"""``smartcity``: the steward's command line.

Prefect and the connectors are imported inside the commands, so ``smartcity --help`` stays instant.
Every command exits 0 on success, or non-zero with a one-line reason.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="smartcity",
    help="Khon Kaen Smart City data pipelines: ingest, check and deliver the programme's data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Configuration file (default: $SMARTCITY_CONFIG, else ./smartcity.toml)"
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Landing zone and warehouse (default: $SMARTCITY_DATA_DIR, else data/)"
    ),
]


@app.callback()
def main(ctx: typer.Context, config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    ctx.obj = {"config": config, "data_dir": data_dir}


def _fails_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any exception into one line on stderr and exit code 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else ""
            typer.echo(f"error: {type(error).__name__}: {message}", err=True)
            raise typer.Exit(1) from None

    return wrapper


@app.command()
@_fails_cleanly
def emulate(
    ctx: typer.Context,
    port: Annotated[
        list[str] | None,
        typer.Option("--port", help="NAME=PORT for one emulator, e.g. --port transit=9003"),
    ] = None,
    today: Annotated[
        str | None, typer.Option(help="Emulated today, YYYY-MM-DD (default: today in Bangkok)")
    ] = None,
    history_days: Annotated[int | None, typer.Option(help="Days of daily history")] = None,
) -> None:
    """Serve every stakeholder emulator on 127.0.0.1 until stopped (Ctrl-C)."""
    from emulators.registry import running

    settings = _load_settings(ctx)
    ports = dict(settings.emulator_ports)
    for item in port or []:
        name, _, number = item.partition("=")
        if not number.isdigit():
            raise typer.BadParameter(f"expected NAME=PORT, got {item!r}", param_hint="--port")
        ports[name] = int(number)
    with running(_clock(settings, today, history_days), ports) as emulators:
        for name, emulator in emulators.items():
            typer.echo(f"{name:<11} {emulator.url}")
        typer.echo("serving; Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopped")


@app.command()
@_fails_cleanly
def ingest(
    ctx: typer.Context,
    datasets: Annotated[list[str], typer.Argument(help="Datasets, e.g. city.population")],
    url: Annotated[str | None, typer.Option(help="Override the endpoint (one dataset)")] = None,
) -> None:
    """Extract, land and load one or more datasets from their configured endpoints."""
    _check_known(datasets)
    if url and len(datasets) != 1:
        raise ValueError("--url overrides one dataset's endpoint: name exactly one dataset")
    flows = _prefect_flows()
    summaries = flows.ingest(datasets=datasets, url=url, **_flow_params(ctx))
    _print_summaries(summaries)


@app.command("ingest-file")
@_fails_cleanly
def ingest_file(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset the file belongs to")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file")],
) -> None:
    """Land and load a file a steward received by hand, e.g. a GTFS zip."""
    _check_known([dataset])
    flows = _prefect_flows()
    summary = flows.ingest_received_file(dataset=dataset, path=str(path), **_flow_params(ctx))
    _print_summaries([summary])


@app.command()
@_fails_cleanly
def run(ctx: typer.Context) -> None:
    """Ingest every dataset once (the programme_daily flow)."""
    flows = _prefect_flows()
    _print_summaries(flows.programme_daily(**_flow_params(ctx)))


@app.command()
@_fails_cleanly
def demo(
    ctx: typer.Context,
    history_days: Annotated[int | None, typer.Option(help="Days of emulated history")] = None,
) -> None:
    """Start the emulators, run the whole programme once against them, stop, show the outputs."""
    from emulators.registry import running

    settings = _load_settings(ctx)
    started = time.monotonic()
    with running(_clock(settings, None, history_days), settings.emulator_ports) as emulators:
        typer.echo("emulators: " + ", ".join(f"{n} {e.url}" for n, e in emulators.items()))
        flows = _prefect_flows()
        summaries = flows.programme_daily(**_flow_params(ctx))
    _print_summaries(summaries)
    data_dir = settings.data_dir.resolve()
    typer.echo(f"\ndone in {time.monotonic() - started:.0f} s. Outputs:")
    reports = data_dir / "reports"
    typer.echo(f"  warehouse     {data_dir / 'warehouse.duckdb'}  (schemas raw, audit, quarantine)")
    typer.echo(f"  landing zone  {data_dir / 'raw'}  (responses as received + manifest.jsonl)")
    typer.echo(f"  data quality  {reports / 'quality'}/<run id>/index.html")
    typer.echo(f"  data docs     {reports / 'gx' / 'data_docs' / 'index.html'}")
    typer.echo("  status        smartcity status")


@app.command()
@_fails_cleanly
def status(ctx: typer.Context) -> None:
    """Per dataset: last batch, rows received / loaded / quarantined, freshness.

    Exits 1 when a dataset is stale (nothing newer than its allowed lag) or has no data.
    """
    from rich.table import Table

    from connectors.registry import connector_for
    from warehouse.audit import dataset_status

    settings = _load_settings(ctx)
    lags = {name: source.lag_hours for name, source in settings.sources.items()}
    newest = {name: getattr(connector_for(name), "FRESHNESS", None) for name in lags}
    table = Table(title=f"datasets in {settings.warehouse.path}")
    headers = (
        "dataset",
        "last batch (Bangkok)",
        "batches",
        "received",
        "loaded",
        "quarantined",
        "newest data (Bangkok)",
        "allowed lag",
        "freshness",
    )
    for header in headers:
        numeric = header in {"batches", "received", "loaded", "quarantined", "allowed lag"}
        table.add_column(header, justify="right" if numeric else "left")
    colours = {"fresh": "green", "stale": "red", "never": "yellow"}
    statuses = dataset_status(settings.warehouse, lags, newest)
    for item in statuses:
        table.add_row(
            item.dataset,
            _bangkok(item.last_batch_at),
            str(item.batches),
            f"{item.rows_received:,}",
            f"{item.rows_loaded:,}",
            f"{item.rows_quarantined:,}",
            _bangkok(item.newest_at),
            f"{item.lag_hours:g} h",
            f"[{colours[item.freshness]}]{item.freshness}[/]",
        )
    _console().print(table)
    unhealthy = [f"{s.dataset} ({s.freshness})" for s in statuses if s.freshness != "fresh"]
    if unhealthy:
        typer.echo(f"not fresh: {', '.join(unhealthy)}", err=True)
        raise typer.Exit(1)


report_app = typer.Typer(help="Reports for auditors and partners.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("quality")
@_fails_cleanly
def report_quality(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Option(help="Flow run to report (default: the latest programme run)")
    ] = None,
) -> None:
    """Data-quality report: checks run, failed and rows set aside, per dataset and batch."""
    from flows.quality import quality_report

    folder, report = quality_report(_load_settings(ctx), run_id)
    totals = report["totals"]
    typer.echo(
        f"{totals['batch_count']} batches, {totals['rows_quarantined']:,} rows quarantined, "
        f"{totals['failed_critical']} critical and {totals['failed_warning']} warning failures"
    )
    typer.echo(f"report: {folder / 'index.html'}")
    typer.echo(f"data:   {folder / 'quality.json'}")


def _load_settings(ctx: typer.Context):
    from flows.config import load_settings

    return load_settings(ctx.obj["config"], ctx.obj["data_dir"])


def _check_known(datasets: list[str]) -> None:
    """An unknown dataset name fails here, before Prefect starts."""
    from connectors.registry import connector_for

    for dataset in datasets:
        connector_for(dataset)


def _flow_params(ctx: typer.Context) -> dict[str, str | None]:
    _load_settings(ctx)  # a bad configuration fails here, before Prefect starts
    return {
        "config": str(ctx.obj["config"]) if ctx.obj["config"] else None,
        "data_dir": str(ctx.obj["data_dir"]) if ctx.obj["data_dir"] else None,
    }


def _prefect_flows():
    """Import the flows, with Prefect set up for a local run, at most one API per command."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from flows import ingest

    return ingest


def _clock(settings: Any, today: str | None, history_days: int | None):
    from emulators.synthetic import Clock

    days = history_days or settings.emulator_history_days
    return Clock(date.fromisoformat(today), days) if today else Clock.now(days)


def _bangkok(moment: Any) -> str:
    if moment is None:
        return "-"
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Bangkok")).strftime("%Y-%m-%d %H:%M")


def _print_summaries(summaries: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="ingested")
    for column in ("dataset", "batches", "received", "loaded", "quarantined", "batch statuses"):
        table.add_column(
            column, justify="left" if column in {"dataset", "batch statuses"} else "right"
        )
    for s in summaries:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items()))
        table.add_row(
            s.dataset,
            str(s.batches),
            f"{s.rows_received:,}",
            f"{s.rows_loaded:,}",
            f"{s.rows_quarantined:,}",
            statuses,
        )
    _console().print(table)


def _console():
    """A rich console; when output goes to a file or pipe, wide enough not to wrap the tables."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


if __name__ == "__main__":
    sys.exit(app())
