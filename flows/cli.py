"""``smartcity``: the steward's command line.

Prefect and the connectors are imported inside the commands, so ``smartcity --help`` stays instant.
Every command exits 0 on success, or non-zero with one line on stderr saying what failed (usage
errors too); ``--verbose`` adds Prefect's own log and the traceback. Commands that run a flow
print its progress, then its run id and the path of its data-quality report.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
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


TodayOption = Annotated[
    str | None,
    typer.Option(
        "--today",
        help="Take this day (YYYY-MM-DD, Asia/Bangkok) as today: what counts as complete, "
        "fresh or in progress (default: $SMARTCITY_TODAY, else the wall clock)",
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show Prefect's log and, on failure, the traceback"),
]


@app.callback()
def options(
    ctx: typer.Context,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    today: TodayOption = None,
    verbose: VerboseOption = False,
) -> None:
    global _VERBOSE
    _VERBOSE = verbose
    if today is not None:
        from connectors.clock import TODAY_VARIABLE, parse_day

        os.environ[TODAY_VARIABLE] = parse_day(today, "--today").isoformat()
    ctx.obj = {"config": config, "data_dir": data_dir}


_VERBOSE = False


def main() -> None:
    """The ``smartcity`` entry point: usage errors, like every failure, are one line on stderr."""
    from typer.exceptions import TyperException

    try:
        code = app(prog_name="smartcity", standalone_mode=False)
    except TyperException as error:  # typer's own click: usage errors and their kin
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help())
            code = 0
        else:
            hint = f" (see `{context.command_path} --help`)" if context is not None else ""
            typer.echo(f"error: {error.format_message()}{hint}", err=True)
            code = error.exit_code
    except typer.Exit as done:
        code = done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        code = 130
    except Exception as error:  # raised outside a command, e.g. by a global option's check
        _report(error)
        code = 1
    sys.exit(code or 0)


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
            _report(error)
            raise typer.Exit(1) from None

    return wrapper


def _report(error: Exception) -> None:
    """The error's first line on stderr; with --verbose, its traceback first."""
    if _VERBOSE:
        import traceback

        traceback.print_exception(error)
    message = str(error).splitlines()[0] if str(error) else ""
    typer.echo(f"error: {type(error).__name__}: {message}", err=True)


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

    _run(ctx, ingest_flow, _print_summaries, datasets=datasets, url=url)


@app.command("ingest-file")
@_fails_cleanly
def ingest_file(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset the file belongs to")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file")],
) -> None:
    """Land and load a file a steward received by hand, e.g. a GTFS zip."""
    from connectors.registry import connector_for
    from warehouse.ingest import received_file

    _check_known([dataset])
    received_file(connector_for(dataset), path)  # not the dataset's kind: refused, nothing landed
    _prepare_prefect()
    from flows.ingest import ingest_received_file

    _run(
        ctx, ingest_received_file, lambda s: _print_summaries([s]), dataset=dataset, path=str(path)
    )


@app.command()
@_fails_cleanly
def run(ctx: typer.Context) -> None:
    """Every dataset once, then the KPIs and the quality report (the programme_daily flow)."""
    _prepare_prefect()
    from flows.programme import programme_daily

    _run(ctx, programme_daily, _print_summaries)


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

    _run(
        ctx,
        transform_flow,
        lambda _: typer.echo("KPIs built: see `smartcity kpis`"),
        full_refresh=full_refresh,
    )


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

        _run(ctx, programme_daily, _print_summaries)
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

    _run(
        ctx, export_flow, lambda folders: typer.echo("\n".join(map(str, folders))), partners=partner
    )


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
    _prepare_prefect(quiet=False)
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
    from connectors.clock import parse_day
    from connectors.registry import connector_for
    from warehouse.ingest import backfill_range

    _check_known([dataset])
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    backfill_range(connector_for(dataset), first.isoformat(), last.isoformat())  # before Prefect
    _prepare_prefect()
    from flows.backfill import backfill as backfill_flow

    _run(
        ctx,
        backfill_flow,
        _print_summary,
        dataset=dataset,
        start=first.isoformat(),
        end=last.isoformat(),
    )


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
        str | None,
        typer.Option(help="Period, e.g. 2026-10 or 'month 2026-10', 2026, 'FY 2569 BE'"),
    ] = None,
) -> None:
    """The KPI table: each KPI's latest ended period and the one in progress (or --period)."""
    from rich.table import Table

    from warehouse.kpis import formatted, latest_kpis

    settings = _load_settings(ctx)
    with settings.warehouse.read() as con:
        rows = latest_kpis(con, area, municipality, period)
    if not rows:
        raise LookupError("no KPI value matches: run `smartcity run` (or `transform`) first?")
    table = Table(title="KPIs" + (f" ({area})" if area else ""))
    headers = ("KPI", "name", "where", "period", "coverage", "value", "unit", "target", "status")
    for header in headers:
        table.add_column(header, justify="right" if header in {"value", "target"} else "left")
    for row in rows:
        table.add_row(
            row.kpi_id, row.name_en, row.where, row.period, row.coverage,
            formatted(row.value, row.decimals), row.unit, formatted(row.target, row.decimals),
            row.status,
        )  # fmt: skip
    _console().print(table)
    typer.echo(
        "in_progress: the period has not ended; partial: it has ended, but the data covers "
        "only part of it. Neither is judged against the target."
    )


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
    """Data-quality report: checks run, failed and rows set aside, per dataset and batch.

    A run's report is written once, as the run ends, and kept: asking again shows the same
    figures (freshness as at the run's end), never figures gathered anew.
    """
    from datetime import datetime

    from flows.quality import quality_report

    folder, report = quality_report(_load_settings(ctx), run_id)
    totals = report["totals"]
    typer.echo(
        f"{totals['batch_count']} batches, {totals['rows_quarantined']:,} rows quarantined, "
        f"{totals['failed_critical']} critical and {totals['failed_warning']} warning failures"
    )
    written = _bangkok(datetime.fromisoformat(str(report["generated_at"])))
    judged = _bangkok(datetime.fromisoformat(str(report["freshness_judged_at"])))
    state = "final" if report.get("final") else "provisional: the run is still going"
    typer.echo(f"written {written}, freshness as at {judged} (Bangkok); {state}")
    typer.echo(f"report: {folder / 'index.html'}")
    typer.echo(f"data:   {folder / 'quality.json'}")


def _run(ctx: typer.Context, flow: Any, show: Callable[[Any], None], **params: Any) -> None:
    """Run ``flow`` with its progress on stdout; ``show`` its result; end with its run id and
    data-quality report, failed or not. A failure is raised for :func:`_fails_cleanly`."""
    settings = _load_settings(ctx)
    from flows.console import progress_to

    with progress_to(sys.stdout, settings.data_dir / "logs" / "prefect.log", verbose=_VERBOSE):
        state = flow(**params, **_flow_params(ctx), return_state=True)
    result = state.result(raise_on_failure=False)
    failed = not state.is_completed()
    if not failed:
        show(result)
    run_id = state.state_details.flow_run_id
    typer.echo(f"run id: {run_id}")
    report = settings.data_dir / "reports" / "quality" / str(run_id) / "index.html"
    if report.exists():
        typer.echo(f"report: {report}")
    if failed:
        raise result if isinstance(result, Exception) else RuntimeError(state.message)


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


def _prepare_prefect(quiet: bool = True) -> None:
    """Set Prefect up for a local run before the flows (and Prefect) are imported: its own
    console log only with --verbose (our progress lines are printed by flows.console), or when
    not ``quiet`` (``serve``, whose output is the runner's log)."""
    if quiet and not _VERBOSE:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        # the ephemeral API runs in a subprocess that shares our stderr
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
        # a library that calls logging.basicConfig() on import (dbt's snowplow_tracker) would
        # otherwise print every log record to stderr
        logging.getLogger().addHandler(logging.NullHandler())
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _clock(settings: Any, today: str | None, history_days: int | None):
    from connectors.clock import parse_day
    from emulators.synthetic import Clock

    days = history_days or settings.emulator_history_days
    return Clock(parse_day(today, "--today"), days) if today else Clock.now(days)


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


def _print_summary(summary: Any) -> None:
    _print_summaries([summary])


def _print_folders(folders: list[Any]) -> None:
    for folder in folders:
        typer.echo(str(folder))


def _console():
    """A rich console; when output goes to a file or pipe, wide enough not to wrap the tables."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


if __name__ == "__main__":
    main()
