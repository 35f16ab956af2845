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
    _prepare_prefect()
    from flows.ingest import ingest as ingest_flow

    summaries = ingest_flow(datasets=datasets, url=url, **_flow_params(ctx))
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
    _prepare_prefect()
    from flows.ingest import ingest_received_file

    summary = ingest_received_file(dataset=dataset, path=str(path), **_flow_params(ctx))
    _print_summaries([summary])


@app.command()
@_fails_cleanly
def run(ctx: typer.Context) -> None:
    """Every dataset once, then the KPIs and the quality report (the programme_daily flow)."""
    _prepare_prefect()
    from flows.programme import programme_daily

    _print_summaries(programme_daily(**_flow_params(ctx)))


@app.command()
@_fails_cleanly
def transform(
    ctx: typer.Context,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild every KPI period, not only recent ones")
    ] = False,
) -> None:
    """Build the KPI models with dbt (the transform flow): `dbt build` with every test."""
    _prepare_prefect()
    from flows.transform import transform as transform_flow

    transform_flow(full_refresh=full_refresh, **_flow_params(ctx))
    typer.echo("KPIs built: see `smartcity kpis`")


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
        _prepare_prefect()
        from flows.programme import programme_daily

        summaries = programme_daily(**_flow_params(ctx))
    _print_summaries(summaries)
    data_dir = settings.data_dir.resolve()
    typer.echo(f"\ndone in {time.monotonic() - started:.0f} s. Outputs:")
    reports = data_dir / "reports"
    typer.echo(f"  warehouse     {data_dir / 'warehouse.duckdb'}  (schemas raw, audit, quarantine)")
    typer.echo(f"  landing zone  {data_dir / 'raw'}  (responses as received + manifest.jsonl)")
    typer.echo(f"  dashboard     {reports / 'dashboard' / 'index.html'}")
    typer.echo(f"  exports       {data_dir / 'exports'}/<partner>/<date>/")
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

    from flows.quality import statuses as dataset_statuses

    settings = _load_settings(ctx)
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
    statuses = dataset_statuses(settings)
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


@app.command()
@_fails_cleanly
def export(
    ctx: typer.Context,
    partner: Annotated[
        list[str] | None, typer.Option(help="Partner id from partners.yml (default: every one)")
    ] = None,
) -> None:
    """Write each partner's KPI tables (Parquet + CSV, manifest, README) under data/exports/."""
    from delivery.exports import load_partners, select_partners

    select_partners(load_partners(), partner)  # an unknown partner fails before Prefect starts
    _prepare_prefect()
    from flows.export import export as export_flow

    for folder in export_flow(partners=partner, **_flow_params(ctx)):
        typer.echo(f"{folder}")


@app.command()
@_fails_cleanly
def dashboard(ctx: typer.Context) -> None:
    """Write the KPI dashboard: one self-contained page, data/reports/dashboard/index.html."""
    from delivery.dashboard import write_dashboard

    typer.echo(f"dashboard: {write_dashboard(_load_settings(ctx))}")


@app.command()
@_fails_cleanly
def serve(ctx: typer.Context) -> None:
    """Serve the deployments of prefect.yaml on their schedules until stopped (Ctrl-C)."""
    _prepare_prefect()
    from flows.serve import serve as serve_deployments

    serve_deployments(**_flow_params(ctx))


@app.command()
@_fails_cleanly
def backfill(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset, e.g. citizens.requests")],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD")],
) -> None:
    """Re-extract a date range of a dataset and load it again (idempotent); the watermark stays."""
    from connectors.registry import connector_for
    from warehouse.ingest import backfill_range

    _check_known([dataset])
    backfill_range(connector_for(dataset), start, end)  # refused before Prefect starts
    _prepare_prefect()
    from flows.backfill import backfill as backfill_flow

    summary = backfill_flow(dataset=dataset, start=start, end=end, **_flow_params(ctx))
    _print_summaries([summary])


@app.command()
@_fails_cleanly
def kpis(
    ctx: typer.Context,
    area: Annotated[
        str | None,
        typer.Option(help="Focus area: transport, mice, health, governance (cross-cutting)"),
    ] = None,
    municipality: Annotated[
        str | None, typer.Option(help="Municipality id, or its English or Thai name")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="Period label, e.g. 2026-10, 2026, 'FY 2569 BE'")
    ] = None,
) -> None:
    """The KPI table: each KPI's latest period (or --period), per municipality or route."""
    from rich.table import Table

    from warehouse.kpis import formatted, latest_kpis

    settings = _load_settings(ctx)
    with settings.warehouse.read() as con:
        rows = latest_kpis(con, area, municipality, period)
    if not rows:
        raise LookupError("no KPI value matches: run `smartcity run` (or `transform`) first?")
    table = Table(title="KPIs" + (f" ({area})" if area else ""))
    for header in ("KPI", "name", "where", "period", "value", "unit", "target", "status"):
        table.add_column(header, justify="right" if header in {"value", "target"} else "left")
    for row in rows:
        table.add_row(
            row.kpi_id, row.name_en, row.where, row.period, formatted(row.value), row.unit,
            formatted(row.target), row.status,
        )  # fmt: skip
    _console().print(table)


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


def _prepare_prefect() -> None:
    """Set Prefect up for a local run before the flows (and Prefect) are imported."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


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
    columns = ("dataset", "batches", "received", "loaded", "new or changed", "quarantined")
    for column in (*columns, "batch statuses"):
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
            f"{s.rows_changed:,}",
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
