"""The data-quality report an auditor reads and keeps: what was checked, what failed, what was set
aside, and where each batch came from.

A run's report is written once, when the run ends: :func:`gather` collects the run (a flow run
and the runs it started) from the audit tables as plain JSON data, and
:func:`write_quality_report` stores it as ``quality.json`` and renders the same figures as
``index.html``: plain HTML with inline styles, UTF-8, no scripts, so it opens from disk and shows
Thai text as received. The stored ``quality.json`` is the record: :func:`stored_report` reads it
back and the page is rendered from it alone, so asking again later gives the same figures and the
same bytes, freshness included, whatever the warehouse or the calendar says by then.

Freshness is judged as at one moment, named in the report: the end of the run for a report
written then; for a run that ended before reports were kept, its ``finished_at``, counting only
the batches received by then.

Per batch: rows received, loaded and quarantined, and its provenance (source URL, raw file under
the data directory, sha256 of the bytes as received). Per dataset and table: every check that ran,
in plain language (the suite's description, or a sentence made from the expectation and its
arguments), with its severity and how many batches passed and failed it.

Personal data: the free text the report quotes (quarantined rows, reasons, observed values,
batch details) is masked with :mod:`warehouse.privacy`; ``quarantine.rows`` keeps every row as
received.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb

from connectors.base import BANGKOK
from warehouse.db import Warehouse
from warehouse.privacy import mask_payload, mask_personal_data

REPORT_FORMAT = 2  # 1: reports before they were kept (no "format" field); rewritten once
EXAMPLES = 3  # quarantined rows shown per reason
PAYLOAD_CHARS = 300


class NoRunError(LookupError):
    pass


@dataclass(frozen=True)
class Freshness:
    """How a dataset's freshness is judged: its allowed lag, and the raw (table, column) holding
    each record's time or date (``None``: the last batch that added rows)."""

    lag_hours: float
    newest: tuple[str, str] | None


@dataclass(frozen=True)
class CheckInfo:
    """What the suite says about one check: a sentence, why it is there, its place in the suite."""

    description: str
    notes: str | None
    position: int


# (table, expectation as audit.validations names it) -> what the suite says about it
CheckCatalogue = Mapping[tuple[str, str], CheckInfo]


def find_run(warehouse: Warehouse, run_id: str | None) -> dict[str, Any]:
    """The ledger row of ``run_id``, or of the latest programme run when ``None``."""
    with warehouse.read() as con:
        if run_id is None:
            found = con.execute(
                "select run_id from audit.runs where flow_name = 'programme_daily' "
                "order by started_at desc limit 1"
            ).fetchone()
            if found is None:
                raise NoRunError(
                    f"no programme run recorded in {warehouse.path}: run `smartcity run` "
                    "first, or name a run (--run-id)"
                )
            run_id = found[0]
        run = _dicts(con.execute("select * from audit.runs where run_id = ?", [run_id]))
    if not run:
        raise NoRunError(f"no run {run_id!r} in {warehouse.path}")
    return run[0]


def stored_report(folder: Path) -> dict[str, Any] | None:
    """The final report kept in ``folder``, if one was written (not one of an older format, nor
    a provisional one written while the run was still going)."""
    path = folder / "quality.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    if report.get("format") != REPORT_FORMAT or not report.get("final"):
        return None
    return report


def write_quality_report(
    report: dict[str, Any], output_root: Path, data_dir: Path, data_docs: Path | None
) -> tuple[Path, dict[str, Any]]:
    """Store ``report`` as ``<output_root>/<run id>/quality.json`` and render ``index.html``
    from what was stored; the folder and the report as stored (plain JSON data)."""
    folder = output_root / report["run"]["run_id"]
    folder.mkdir(parents=True, exist_ok=True)
    report = {
        **report,
        "data_dir": Path(os.path.relpath(data_dir, folder)).as_posix(),
        "data_docs": Path(os.path.relpath(data_docs, folder)).as_posix() if data_docs else None,
    }
    text = json.dumps(report, ensure_ascii=False, indent=2, default=_json_value)
    (folder / "quality.json").write_text(text + "\n", encoding="utf-8")
    stored = json.loads(text)
    (folder / "index.html").write_text(render_html(stored), encoding="utf-8")
    return folder, stored


def render_stored(folder: Path, report: dict[str, Any]) -> None:
    """Render the page of a stored report if it is missing; an existing page is left as it is."""
    page = folder / "index.html"
    if not page.exists():
        page.write_text(render_html(report), encoding="utf-8")


def gather(
    warehouse: Warehouse,
    run: dict[str, Any],
    rules: Mapping[str, Freshness],
    *,
    judged_at: datetime,
    received_by: datetime | None = None,
    catalogue: CheckCatalogue | None = None,
    final: bool = True,
    calendar_offset: timedelta = timedelta(0),
) -> dict[str, Any]:
    """Every figure of the report of ``run`` (a :func:`find_run` row), as plain data.

    Freshness is judged at ``judged_at`` (on the pipeline's calendar, ``calendar_offset`` from
    the wall clock's: see :func:`connectors.clock.offset`) over the batches received by
    ``received_by`` (all of them when ``None``); ``catalogue`` describes the checks;
    ``final`` is false for a run still going, whose report is written again when it ends.
    """
    run_id = run["run_id"]
    with warehouse.read() as con:
        batches = _run_rows(con, _BATCHES_SQL, run_id)
        checks = _run_rows(con, _CHECKS_SQL, run_id)
        quarantined = _run_rows(con, _QUARANTINE_SQL, run_id)
        freshness = _freshness(con, rules, judged_at, received_by, calendar_offset)
    for batch in batches:
        batch["detail"] = _masked(batch["detail"])
    checks = sorted((_described(c, catalogue or {}) for c in checks), key=_suite_order)
    for group in quarantined:
        group["reason"] = mask_personal_data(group["reason"])
        for example in group["examples"]:
            example["payload"] = _shorten(mask_payload(example["payload"] or ""))
    datasets = []
    for dataset, judged in freshness.items():
        own = [b for b in batches if b["dataset"] == dataset]
        own_checks = [c for c in checks if c["dataset"] == dataset]
        datasets.append(
            {
                "dataset": dataset,
                **_totals(own),
                **judged,
                "batches": own,
                "checks_run": own_checks,
                "failed_checks": [c for c in own_checks if c["batches_failed"]],
                "quarantine": [q for q in quarantined if q["dataset"] == dataset],
            }
        )
    return {
        "format": REPORT_FORMAT,
        "final": final,
        "run": {**run, "error": _masked(run.get("error"))},
        "generated_at": datetime.now(UTC),
        "freshness_judged_at": judged_at,
        "data_dir": None,
        "data_docs": None,
        "totals": _totals(batches),
        "datasets": datasets,
    }


_RUNS = "(select run_id from audit.runs where root_run_id = $run or run_id = $run)"
_BATCHES_SQL = f"""
    select b.dataset, b.batch_id, b.status, b.received_at, b.url, b.raw_path, b.sha256, b.bytes,
           b.rows_received, b.rows_loaded, b.rows_quarantined, b.detail,
           count(v.expectation) as checks,
           count(*) filter (where v.success) as passed,
           count(*) filter (where not v.success and v.severity = 'critical') as failed_critical,
           count(*) filter (where not v.success and v.severity = 'warning') as failed_warning
    from audit.batches b left join audit.validations v using (batch_id)
    where b.run_id in {_RUNS}
    group by all order by b.dataset, b.received_at, b.batch_id
"""
_CHECKS_SQL = f"""
    select dataset, table_name, expectation, severity,
           count(distinct batch_id) filter (where success) as batches_passed,
           count(distinct batch_id) filter (where not success) as batches_failed,
           coalesce(sum(unexpected_count) filter (where not success), 0) as unexpected,
           min(observed_value) filter (where not success) as observed
    from audit.validations where run_id in {_RUNS}
    group by all order by dataset, table_name, expectation, severity
"""
_QUARANTINE_SQL = f"""
    select dataset, reason, count(*) as rows,
           list({{'batch_id': batch_id, 'row_number': row_number, 'payload': payload}}
                order by batch_id, row_number)[1:{EXAMPLES}] as examples
    from quarantine.rows where run_id in {_RUNS}
    group by all order by dataset, rows desc, reason
"""


def _run_rows(con: duckdb.DuckDBPyConnection, sql: str, run_id: str) -> list[dict[str, Any]]:
    return _dicts(con.execute(sql, {"run": run_id}))


def _freshness(
    con: duckdb.DuckDBPyConnection,
    rules: Mapping[str, Freshness],
    judged_at: datetime,
    received_by: datetime | None,
    calendar_offset: timedelta,
) -> dict[str, dict[str, Any]]:
    """Per dataset: its newest data among the batches received by ``received_by``, and whether
    that was within the allowed lag at ``judged_at`` (``fresh``, ``stale`` or ``never``); a
    dataset without a record time is as new as its last batch, judged on the wall clock."""
    bound = received_by or datetime.max.replace(tzinfo=UTC)
    changed = dict(
        con.execute(
            "select dataset, max(received_at) from audit.batches where status = 'loaded' "
            "and rows_loaded > 0 and received_at <= ? group by dataset",
            [bound],
        ).fetchall()
    )
    judged = {}
    for dataset, rule in rules.items():
        newest = changed.get(dataset)
        now = judged_at - calendar_offset  # a batch's receipt is on the wall clock
        if newest is not None and rule.newest is not None:
            newest = _newest_record(con, *rule.newest, bound)
            now = judged_at
        if newest is None:
            verdict = "never"
        else:
            fresh = now - newest <= timedelta(hours=rule.lag_hours)
            verdict = "fresh" if fresh else "stale"
        judged[dataset] = {"freshness": verdict, "newest_at": newest, "lag_hours": rule.lag_hours}
    return judged


def _newest_record(
    con: duckdb.DuckDBPyConnection, table: str, column: str, bound: datetime
) -> datetime | None:
    """The newest value of ``raw.table.column`` among rows of batches received by ``bound``; a
    date counts until the end of that day in Bangkok."""
    try:
        value = con.execute(
            f'select max(t."{column}") from raw.{table} t '
            "join audit.batches b on b.batch_id = t._batch_id where b.received_at <= ?",
            [bound],
        ).fetchone()[0]
    except duckdb.CatalogException:  # the dataset's other tables loaded, not this one
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(), BANGKOK)
    return None


def _totals(batches: list[dict[str, Any]]) -> dict[str, int]:
    counts = {field: sum(b[field] for b in batches) for _, field in BATCH_COUNTS}
    return {"batch_count": len(batches), **counts}


def _dicts(result: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _masked(text: str | None) -> str | None:
    return mask_personal_data(text) if text else text


def _shorten(text: str) -> str:
    return text if len(text) <= PAYLOAD_CHARS else text[:PAYLOAD_CHARS] + "…"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


# --- what each check means ----------------------------------------------------------------


def check_catalogue(
    suites_dir: Path, name_of: Callable[[Any], str]
) -> dict[tuple[str, str], CheckInfo]:
    """Per (table, check name), what the suites in ``suites_dir`` (GX JSON, one per raw table)
    say: ``name_of`` names an expectation as the gate records it in ``audit.validations``."""
    catalogue = {}
    for path in sorted(suites_dir.glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        for position, entry in enumerate(suite.get("expectations", [])):
            config = _Config(
                type=entry["type"],
                kwargs=entry.get("kwargs", {}),
                description=entry.get("description"),
            )
            meta = entry.get("meta", {})
            catalogue[suite["name"], name_of(config)] = CheckInfo(
                description=describe_expectation(config.type, config.kwargs, config.description),
                notes=meta.get("notes"),
                position=position,
            )
    return catalogue


@dataclass(frozen=True)
class _Config:
    """The fields of a GX expectation configuration that naming and describing read."""

    type: str
    kwargs: dict[str, Any]
    description: str | None


def describe_expectation(type_: str, kwargs: Mapping[str, Any], description: str | None) -> str:
    """One plain sentence saying what the check asks of the data."""
    given = description or kwargs.get("description")
    if given:
        return str(given)
    column = kwargs.get("column")
    low, high = _value(kwargs.get("min_value")), _value(kwargs.get("max_value"))
    phrases: dict[str, Callable[[], str]] = {
        "expect_column_to_exist": lambda: f"column {column} is present",
        "expect_column_values_to_not_be_null": lambda: f"column {column} is never empty",
        "expect_column_values_to_be_unique": lambda: f"no two rows share a {column}",
        "expect_compound_columns_to_be_unique": lambda: (
            "no two rows share the same " + ", ".join(kwargs.get("column_list", []))
        ),
        "expect_column_values_to_be_in_set": lambda: (
            f"column {column} is one of {_listed(kwargs.get('value_set', []))}"
        ),
        "expect_column_values_to_be_between": lambda: f"column {column} is {_range(low, high)}",
        "expect_column_max_to_be_between": lambda: (
            f"the newest {column} is within the dataset's allowed lag (the source is fresh)"
            if low == "fresh_after"
            else f"the largest {column} is {_range(low, high)}"
        ),
        "expect_column_min_to_be_between": lambda: f"the smallest {column} is {_range(low, high)}",
        "expect_column_median_to_be_between": lambda: f"the median {column} is {_range(low, high)}",
        "expect_column_pair_values_a_to_be_greater_than_b": lambda: (
            f"{kwargs.get('column_A')} is "
            f"{'at least' if kwargs.get('or_equal') else 'greater than'} {kwargs.get('column_B')}"
        ),
        "expect_table_row_count_to_be_between": lambda: (
            "the batch has between half and twice the rows of the previous batch from the same "
            "source"
            if low == "min_rows"
            else f"the number of rows is {_range(low, high)}"
        ),
        "unexpected_rows_expectation": lambda: (
            f"no row matches: {kwargs.get('unexpected_rows_query', '')}"
        ),
    }
    if type_ in phrases:
        return phrases[type_]()
    subject = column or ", ".join(kwargs.get("column_list", []))
    words = type_.removeprefix("expect_").replace("_", " ")
    return f"{subject}: {words}" if subject else words


def describe_name(name: str) -> str:
    """A sentence for a check known only by its recorded name, e.g. ``type(column)``."""
    found = re.fullmatch(r"(\w+)\((.*)\)", name)
    if not found:
        return describe_expectation(name, {}, None)
    type_, subject = found.groups()
    if type_ == "unexpected_rows_expectation":
        return describe_expectation(type_, {"description": subject}, None)
    columns = [c.strip() for c in subject.split(",")]
    kwargs = {"column": subject, "column_list": columns}
    if len(columns) == 2:
        kwargs |= {"column_A": columns[0], "column_B": columns[1]}
    return describe_expectation(type_, kwargs, None)


def _described(check: dict[str, Any], catalogue: CheckCatalogue) -> dict[str, Any]:
    info = catalogue.get((check["table_name"], check["expectation"]))
    return {
        **check,
        "description": info.description if info else describe_name(check["expectation"]),
        "notes": info.notes if info else None,
        "position": info.position if info else None,
        "observed": _masked(check["observed"]),
    }


def _suite_order(check: dict[str, Any]) -> tuple[Any, ...]:
    """Table by table, in the suite's order (schema checks first); unknown checks last."""
    position = check["position"]
    return (
        check["dataset"],
        check["table_name"],
        position is None,
        position or 0,
        check["expectation"],
    )


def _value(value: Any) -> Any:
    """A bound as written in the suite: a number, or the name of a run-time parameter."""
    return value.get("$PARAMETER") if isinstance(value, dict) else value


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _listed(values: list[Any], shown: int = 8) -> str:
    items = [str(v) for v in values]
    if len(items) <= shown:
        return ", ".join(items)
    return ", ".join(items[:shown]) + f" (and {len(items) - shown} more)"


# --- the markdown artifact ------------------------------------------------------------------


def markdown_summary(report: dict[str, Any], location: Path) -> str:
    """The report's headline figures, as a Prefect markdown artifact."""
    totals = report["totals"]
    lines = [
        f"# Data quality, run {report['run']['run_id']}",
        "",
        f"{totals['batch_count']} batches: {totals['rows_received']:,} rows received, "
        f"{totals['rows_loaded']:,} loaded, {totals['rows_quarantined']:,} quarantined. "
        f"{totals['checks']:,} checks, {totals['failed_critical']} critical and "
        f"{totals['failed_warning']} warning failures. "
        f"Freshness as at {_when(report['freshness_judged_at'])} (Bangkok).",
        "",
        "| dataset | batches | received | loaded | quarantined | failed critical "
        "| failed warning | freshness |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for d in report["datasets"]:
        lines.append(
            f"| {d['dataset']} | {d['batch_count']} | {d['rows_received']:,} | "
            f"{d['rows_loaded']:,} | {d['rows_quarantined']:,} | {d['failed_critical']} | "
            f"{d['failed_warning']} | {d['freshness']} |"
        )
    lines += ["", f"Full report: `{location / 'index.html'}`"]
    return "\n".join(lines)


# --- the page -------------------------------------------------------------------------------

_STYLE = """
body { font-family: "Noto Sans Thai", Loma, Garuda, "DejaVu Sans", sans-serif; margin: 2em;
       color: #1b1b1b; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.fresh { color: #1a7f37; } .stale, .never, .bad { color: #b42318; font-weight: bold; }
code, .payload { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85em; }
.hash { font-size: 0.75em; word-break: break-all; } .note { color: #555; font-size: 0.9em; }
.provisional { background: #fff4d6; padding: 0.5em; }
"""

# (heading, field) of the counts shown for a dataset and for a batch
DATASET_COUNTS = [
    ("batches", "batch_count"),
    ("rows received", "rows_received"),
    ("rows loaded", "rows_loaded"),
    ("rows quarantined", "rows_quarantined"),
    ("checks run", "checks"),
    ("passed", "passed"),
    ("failed critical", "failed_critical"),
    ("failed warning", "failed_warning"),
]
BATCH_COUNTS = DATASET_COUNTS[1:]


def render_html(report: dict[str, Any]) -> str:
    """The stored report (plain JSON data) as one HTML page; every figure cell carries
    ``data-row`` and ``data-field``."""
    run, docs = report["run"], report.get("data_docs")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Data quality, run {_e(run['run_id'])}</title><style>{_STYLE}</style></head><body>",
        "<h1>Khon Kaen Smart City: data-quality report</h1>",
        f"<p>Run <code id='run-id'>{_e(run['run_id'])}</code> ({_e(run['flow_name'])}, "
        f"{_e(run['status'])}), started {_when(run['started_at'])}, ended "
        f"{_when(run.get('finished_at'))}. Report written {_when(report['generated_at'])}; "
        f"freshness judged as at <span id='judged-at'>{_when(report['freshness_judged_at'])}"
        "</span>. Times are Bangkok time.</p>",
        "<p>Personal data (names, phone numbers, e-mail addresses, national IDs) in the text "
        "quoted below is masked; <code>quarantine.rows</code> keeps each row as received.</p>",
    ]
    if not report.get("final", True):
        parts.append(
            "<p class='provisional'>Provisional: the run was still going when this page was "
            "written; its report is written again when it ends.</p>"
        )
    parts += [
        f"<p><a id='data-docs' href='{_e(docs)}'>Great Expectations Data Docs</a></p>"
        if docs
        else "<p>No Data Docs were built.</p>",
        "<h2>Summary</h2>",
        _summary(report),
    ]
    idle = [d["dataset"] for d in report["datasets"] if not d["batches"]]
    if idle:
        parts.append(f"<p>No batch in this run for: {_e(', '.join(idle))}.</p>")
    for dataset in report["datasets"]:
        if dataset["batches"]:
            parts += _dataset_section(dataset, report.get("data_dir") or "")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _summary(report: dict[str, Any]) -> str:
    headers = ["dataset", *(h for h, _ in DATASET_COUNTS), "freshness", "newest data", "lag (h)"]
    rows = []
    for d in report["datasets"]:
        name = d["dataset"]
        freshness = (
            f"<span class='{d['freshness']}' data-row='{_e(name)}' data-field='freshness'>"
            f"{d['freshness']}</span>"
        )
        counts = [_number(d[f], name, f) for _, f in DATASET_COUNTS]
        rows.append([_e(name), *counts, freshness, _when(d["newest_at"]), f"{d['lag_hours']:g}"])
    totals = [_number(report["totals"][f], "all", f) for _, f in DATASET_COUNTS]
    rows.append(["<b>all datasets</b>", *totals, "", "", ""])
    return _table(headers, rows)


def _dataset_section(d: dict[str, Any], data_dir: str) -> list[str]:
    headers = ["batch", "received", "status", *(h for h, _ in BATCH_COUNTS), "detail"]
    rows = [
        [
            f"<code>{_e(b['batch_id'])}</code>",
            _when(b["received_at"]),
            _flagged(b["status"], b["status"] == "rejected"),
            *(_number(b[f], b["batch_id"], f) for _, f in BATCH_COUNTS),
            _e(b["detail"] or ""),
        ]
        for b in d["batches"]
    ]
    parts = [
        f"<h2 id='{_e(d['dataset'])}'>{_e(d['dataset'])}</h2>",
        "<h3>Batches</h3>",
        _table(headers, rows),
        "<h3>Where each batch came from</h3>",
        _provenance(d["batches"], data_dir),
        "<h3>Checks run</h3>",
        _checks(d["checks_run"]),
    ]
    if d["failed_checks"]:
        headers = ["table", "check", "severity", "batches", "unexpected rows", "observed"]
        rows = [
            [
                _e(c["table_name"]),
                f"{_e(c['description'])}<br><code>{_e(c['expectation'])}</code>",
                _flagged(c["severity"], c["severity"] == "critical"),
                _number(c["batches_failed"]),
                _number(c["unexpected"]),
                f"<span class='payload'>{_e(c['observed'] or '')}</span>",
            ]
            for c in d["failed_checks"]
        ]
        parts += ["<h3>Failed checks</h3>", _table(headers, rows)]
    if d["quarantine"]:
        rows = [
            [_e(q["reason"]), _number(q["rows"]), "<br>".join(map(_example, q["examples"]))]
            for q in d["quarantine"]
        ]
        headers = ["reason", "rows", "examples (batch, row: as received, personal data masked)"]
        parts += ["<h3>Rows set aside (quarantine)</h3>", _table(headers, rows)]
    return parts


def _provenance(batches: list[dict[str, Any]], data_dir: str) -> str:
    headers = ["batch", "source URL", "raw file (as received)", "bytes", "sha256"]
    rows = [
        [
            f"<code>{_e(b['batch_id'])}</code>",
            _marked(b["batch_id"], "url", f"<code>{_e(b['url'])}</code>"),
            _marked(b["batch_id"], "raw_path", _raw_link(data_dir, b["raw_path"])),
            _number(b["bytes"]),
            _marked(b["batch_id"], "sha256", f"<code class='hash'>{_e(b['sha256'])}</code>"),
        ]
        for b in batches
    ]
    return _table(headers, rows)


def _raw_link(data_dir: str, raw_path: str) -> str:
    """A link from the report's folder to the raw file (``raw_path`` is relative to data/)."""
    return f"<a href='{_e(data_dir + '/' + raw_path)}'>{_e(raw_path)}</a>"


def _checks(checks: list[dict[str, Any]]) -> str:
    """Every check that ran, in the order of :func:`_suite_order`."""

    headers = ["table", "check", "why", "severity", "batches passed", "batches failed"]
    rows = [
        [
            _e(c["table_name"]),
            f"{_e(c['description'])}<br><code class='note'>{_e(c['expectation'])}</code>",
            f"<span class='note'>{_e(c['notes'] or '')}</span>",
            _flagged(c["severity"], c["severity"] == "critical" and c["batches_failed"] > 0),
            _number(c["batches_passed"], _check_row(c), "batches_passed"),
            _number(c["batches_failed"], _check_row(c), "batches_failed"),
        ]
        for c in checks
    ]
    return _table(headers, rows)


def _check_row(check: dict[str, Any]) -> str:
    return f"{check['table_name']}:{check['expectation']}"


def _example(row: dict[str, Any]) -> str:
    return (
        f"<code>{_e(row['batch_id'])}</code> row {row['row_number']}: "
        f"<span class='payload'>{_e(row['payload'])}</span>"
    )


def _marked(row: str, field: str, content: str) -> str:
    return f"<td data-row='{_e(row)}' data-field='{_e(field)}'>{content}</td>"


def _flagged(text: str, bad: bool) -> str:
    return f"<span class='bad'>{_e(text)}</span>" if bad else _e(text)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(content: str) -> str:
    return content if content.startswith("<td") else f"<td>{content}</td>"


def _number(value: int, row: str | None = None, field: str | None = None) -> str:
    marks = f" data-row='{_e(row)}' data-field='{_e(field)}'" if row and field else ""
    return f"<td class='n'{marks}>{value:,}</td>"


def _when(moment: str | datetime | None) -> str:
    if not moment:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
