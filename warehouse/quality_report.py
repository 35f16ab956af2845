"""The data-quality report an auditor reads: what was checked, what failed, what was set aside.

``gather`` collects one run (a flow run and the runs it started) from the audit tables;
``write_quality_report`` writes it as ``quality.json`` and renders the same figures as
``index.html``: plain HTML with inline styles, UTF-8, no scripts, so it opens from disk and shows
Thai text as received.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import BANGKOK
from warehouse.audit import DatasetStatus
from warehouse.db import Warehouse

EXAMPLES = 3  # quarantined rows shown per reason
PAYLOAD_CHARS = 300


class NoRunError(LookupError):
    pass


def write_quality_report(report: dict[str, Any], output_root: Path, data_docs: Path | None) -> Path:
    """Write ``<output_root>/<run id>/index.html`` and ``quality.json``; return that folder."""
    folder = output_root / report["run"]["run_id"]
    folder.mkdir(parents=True, exist_ok=True)
    if data_docs is not None:
        report["data_docs"] = os.path.relpath(data_docs, folder)
    (folder / "quality.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    (folder / "index.html").write_text(render_html(report), encoding="utf-8")
    return folder


def gather(
    warehouse: Warehouse, statuses: Iterable[DatasetStatus], run_id: str | None = None
) -> dict[str, Any]:
    """Every figure of the report, as plain data."""
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
        runs = "select run_id from audit.runs where root_run_id = ? or run_id = ?"
        batches = _dicts(
            con.execute(
                f"""
                select b.dataset, b.batch_id, b.status, b.received_at, b.rows_received,
                       b.rows_loaded, b.rows_quarantined, b.detail,
                       count(v.expectation) as checks,
                       count(*) filter (where v.success) as passed,
                       count(*) filter (where not v.success and v.severity = 'critical')
                           as failed_critical,
                       count(*) filter (where not v.success and v.severity = 'warning')
                           as failed_warning
                from audit.batches b left join audit.validations v using (batch_id)
                where b.run_id in ({runs})
                group by all order by b.dataset, b.received_at
                """,
                [run_id, run_id],
            )
        )
        failed_checks = _dicts(
            con.execute(
                f"""
                select dataset, table_name, expectation, severity,
                       count(distinct batch_id) as batches,
                       coalesce(sum(unexpected_count), 0) as unexpected,
                       any_value(observed_value) as observed
                from audit.validations
                where not success and run_id in ({runs})
                group by all order by dataset, severity, expectation
                """,
                [run_id, run_id],
            )
        )
        quarantined = _dicts(
            con.execute(
                f"""
                select dataset, reason, count(*) as rows,
                       list({{'batch_id': batch_id, 'row_number': row_number,
                              'payload': left(payload, {PAYLOAD_CHARS})}}
                            order by batch_id, row_number)[1:{EXAMPLES}] as examples
                from quarantine.rows where run_id in ({runs})
                group by all order by dataset, rows desc, reason
                """,
                [run_id, run_id],
            )
        )
    datasets = []
    for status in statuses:
        own = [b for b in batches if b["dataset"] == status.dataset]
        datasets.append(
            {
                "dataset": status.dataset,
                **_totals(own),
                "freshness": status.freshness,
                "newest_at": status.newest_at,
                "lag_hours": status.lag_hours,
                "batches": own,
                "failed_checks": [c for c in failed_checks if c["dataset"] == status.dataset],
                "quarantine": [q for q in quarantined if q["dataset"] == status.dataset],
            }
        )
    return {
        "run": run[0],
        "generated_at": datetime.now(UTC),
        "data_docs": None,
        "totals": _totals(batches),
        "datasets": datasets,
    }


def _totals(batches: list[dict[str, Any]]) -> dict[str, int]:
    counts = {field: sum(b[field] for b in batches) for _, field in BATCH_COUNTS}
    return {"batch_count": len(batches), **counts}


def _dicts(result: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def markdown_summary(report: dict[str, Any], location: Path) -> str:
    """The report's headline figures, as a Prefect markdown artifact."""
    totals = report["totals"]
    lines = [
        f"# Data quality, run {report['run']['run_id']}",
        "",
        f"{totals['batch_count']} batches: {totals['rows_received']:,} rows received, "
        f"{totals['rows_loaded']:,} loaded, {totals['rows_quarantined']:,} quarantined. "
        f"{totals['checks']:,} checks, {totals['failed_critical']} critical and "
        f"{totals['failed_warning']} warning failures.",
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


_STYLE = """
body { font-family: "Noto Sans Thai", Loma, Garuda, "DejaVu Sans", sans-serif; margin: 2em;
       color: #1b1b1b; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.fresh { color: #1a7f37; } .stale, .never, .bad { color: #b42318; font-weight: bold; }
code, .payload { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85em; }
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
    """The report as one HTML page; every figure cell carries ``data-row`` and ``data-field``."""
    run, docs = report["run"], report.get("data_docs")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Data quality, run {_e(run['run_id'])}</title><style>{_STYLE}</style></head><body>",
        "<h1>Khon Kaen Smart City: data-quality report</h1>",
        f"<p>Run <code id='run-id'>{_e(run['run_id'])}</code> ({_e(run['flow_name'])}, "
        f"{_e(run['status'])}), started {_when(run['started_at'])}; report generated "
        f"{_when(report['generated_at'])}. Times are Bangkok time.</p>",
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
            parts += _dataset_section(dataset)
    parts.append("</body></html>")
    return "\n".join(parts)


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


def _dataset_section(d: dict[str, Any]) -> list[str]:
    headers = ["batch", "status", *(h for h, _ in BATCH_COUNTS), "detail"]
    rows = [
        [
            f"<code>{_e(b['batch_id'])}</code>",
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
    ]
    if d["failed_checks"]:
        headers = ["table", "expectation", "severity", "batches", "unexpected rows", "observed"]
        rows = [
            [
                _e(c["table_name"]),
                f"<code>{_e(c['expectation'])}</code>",
                _flagged(c["severity"], c["severity"] == "critical"),
                _number(c["batches"]),
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
        headers = ["reason", "rows", "examples (batch, row: as received)"]
        parts += ["<h3>Rows set aside (quarantine)</h3>", _table(headers, rows)]
    return parts


def _example(row: dict[str, Any]) -> str:
    return (
        f"<code>{_e(row['batch_id'])}</code> row {row['row_number']}: "
        f"<span class='payload'>{_e(row['payload'])}</span>"
    )


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


def _when(moment: datetime | None) -> str:
    return moment.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
