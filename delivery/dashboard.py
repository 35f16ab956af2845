"""The KPI dashboard: one self-contained HTML page, ``<data>/reports/dashboard/index.html``.

The page embeds its data as JSON (read here from the marts ``fct_kpi_values``, ``dim_kpi`` and
``municipalities``, the datasets' freshness and the run ledger) and renders it with the inline
script and styles of ``dashboard.js`` / ``dashboard.css``: no library, no network at view time,
so it opens from disk or from any static file server.

What a card shows, and why:

- the headline is always a row of ``fct_kpi_values`` (its element carries ``data-kpi``,
  ``data-municipality`` or ``data-route``, ``data-period-start`` and the raw ``data-value``):
  the KPI's latest complete period of its finest grain (month before day before year before
  fiscal year, so MI01/MI02 headline their month and show the fiscal year beside it); a period
  covered only in part, or still in progress, is the headline only while there is no complete
  one (the one that has ended first), and its status says so (``partial``, ``in_progress``)
  instead of met or not met.
  Per-municipality KPIs show the municipality the filter selects; city-wide KPIs do not change
  with it. A per-route KPI (TR03) lists each route's latest day instead of one headline.
- a health value computed from a count under 5 is shown as suppressed, as in the partner
  exports; no numerator or denominator is embedded in the page (MI02's international attendees
  apart, which the card shows).
- the trend is the last 12 months up to the headline period: monthly rows as they are; day-grain
  KPIs summarised per month as sum(numerator) / sum(denominator) (a summary, not a table row,
  coloured by the same rule as the table's status); year-grain KPIs show their (last 12) years.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from connectors import clock
from connectors.base import BANGKOK
from flows.config import Settings
from flows.quality import statuses
from warehouse.kpis import is_suppressed

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "dashboard.html"
ASSETS = {"/*DASHBOARD_CSS*/": HERE / "dashboard.css", "/*DASHBOARD_JS*/": HERE / "dashboard.js"}
DATA_PLACEHOLDER = "__DASHBOARD_DATA__"
TREND_PERIODS = 12
HEADLINE_GRAINS = ("month", "day", "year", "fiscal_year")  # first one a KPI has is its headline

FOCUS_AREAS_TH = {
    "Logistics & Transportation": "โลจิสติกส์และการขนส่ง",
    "MICE City": "เมืองไมซ์",
    "Medical & Healthcare": "การแพทย์และสุขภาพ",
    "cross-cutting": "ตัวชี้วัดร่วม",
}
FOCUS_AREAS_EN = {"cross-cutting": "Cross-cutting KPIs"}
DIMENSIONS_TH = {
    "Smart Mobility": "การเดินทางอัจฉริยะ",
    "Smart Economy": "เศรษฐกิจอัจฉริยะ",
    "Smart Living": "การดำรงชีวิตอัจฉริยะ",
    "Smart Governance": "การบริหารภาครัฐอัจฉริยะ",
    "Smart Environment": "สิ่งแวดล้อมอัจฉริยะ",
}
UNITS_TH = {
    "boardings": "เที่ยวการเดินทาง",
    "boardings per inhabitant": "เที่ยวต่อคน",
    "share": "ร้อยละ",
    "events": "งาน",
    "attendees": "คน",
    "THB": "บาท",
    "minutes": "นาที",
    "consultations per 1000 inhabitants": "ครั้งต่อประชากร 1,000 คน",
    "complaints per 10000 inhabitants": "เรื่องต่อประชากร 10,000 คน",
    "days": "วัน",
    "MWh": "เมกะวัตต์ชั่วโมง",
}
STATUSES = {
    "met": ("target met", "ผ่านเป้าหมาย"),
    "not_met": ("target not met", "ไม่ผ่านเป้าหมาย"),
    "no_target": ("no target set", "ไม่มีเป้าหมาย"),
    "no_data": ("no data", "ไม่มีข้อมูล"),
    "in_progress": ("in progress: not judged yet", "อยู่ระหว่างดำเนินการ: ยังไม่ประเมิน"),
    "partial": ("partial data: not judged", "ข้อมูลไม่ครบช่วง: ไม่ประเมิน"),
    "suppressed": ("suppressed: small count", "ปกปิด: จำนวนน้อย"),
}
# the partner exports' rule (DESIGN.md): a health row with a numerator or denominator under 5 is
# not published, since its value could be turned back into a count of people
FRESHNESS = {
    "fresh": ("fresh", "เป็นปัจจุบัน"),
    "stale": ("stale", "ล่าช้า"),
    "never": ("no data yet", "ยังไม่มีข้อมูล"),
}
NUMERATOR_LABELS = {"MI02": {"en": "of which international", "th": "ชาวต่างชาติ"}}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_TH = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."
)  # fmt: skip
BE_OFFSET = 543

VALUE_COLUMNS = (
    "kpi_id, municipality_id, route_id, period_grain, period_start, period_end, "
    "fiscal_year_be, value, numerator, denominator, target, direction, status, run_id, "
    "coverage_days, period_days, is_complete"
)


class NoKpisError(LookupError):
    """The warehouse has no KPI marts yet."""


def write_dashboard(settings: Settings, quality_report: Path | None = None) -> Path:
    """Write ``<data>/reports/dashboard/index.html`` from the warehouse; return its path.

    It links to ``quality_report`` (default: the newest report written).
    """
    folder = settings.data_dir / "reports" / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "index.html"
    page.write_text(render(gather(settings, folder, quality_report)), encoding="utf-8")
    return page


def render(payload: dict[str, Any]) -> str:
    """The page: the template with its styles, script and data inlined."""
    html = TEMPLATE.read_text(encoding="utf-8")
    for placeholder, asset in ASSETS.items():
        html = html.replace(placeholder, asset.read_text(encoding="utf-8"))
    data = json.dumps(payload, ensure_ascii=False, allow_nan=False, default=str)
    # inside <script type="application/json">, only "</" (and "<!--") could end the element early
    return html.replace(DATA_PLACEHOLDER, data.replace("<", "\\u003c"))


def gather(settings: Settings, folder: Path, quality_report: Path | None = None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data; links are relative to ``folder``."""
    today = clock.today()
    with settings.warehouse.read() as con:
        _require_marts(con, settings)
        catalogue = _dicts(
            con.execute(
                "select kpi_id, name_en, name_th, focus_area, smart_dimension, unit, direction, "
                "target, grain, formula, standard_ref from marts.dim_kpi order by kpi_id"
            )
        )
        municipalities = _dicts(
            con.execute(
                "select municipality_id as id, name_en, name_th, name_th_short "
                "from marts.municipalities order by rowid"
            )
        )
        rows = _dicts(
            con.execute(
                f"""
                select {VALUE_COLUMNS} from marts.fct_kpi_values
                qualify period_grain <> 'day' or period_start = max(period_start) over (
                    partition by kpi_id, period_grain, municipality_id, route_id)
                """
            )
        )
        monthly = _dicts(
            con.execute(
                """
                select kpi_id, municipality_id,
                       cast(date_trunc('month', period_start) as date) as period_start,
                       sum(numerator) as numerator, sum(denominator) as denominator,
                       sum(numerator) / nullif(sum(denominator), 0) as value,
                       count(distinct period_start) as days
                from marts.fct_kpi_values where period_grain = 'day'
                group by all
                """
            )
        )
        run = _kpi_run(con)
    return {
        "generated_at": datetime.now(BANGKOK).strftime("%Y-%m-%d %H:%M"),
        "run": run,
        "quality_report": _quality_report_link(settings.data_dir, folder, quality_report),
        "freshness": [_freshness(status) for status in statuses(settings)],
        "municipalities": municipalities,
        "statuses": {k: {"en": en, "th": th} for k, (en, th) in STATUSES.items()},
        "focus_areas": _focus_areas(catalogue),
        "kpis": [kpi_card(kpi, rows, monthly, today) for kpi in catalogue],
    }


def kpi_card(
    kpi: dict[str, Any], rows: list[dict[str, Any]], monthly: list[dict[str, Any]], today: date
) -> dict[str, Any]:
    """One KPI: catalogue labels, scope, headline per municipality / route, and trend."""
    own = [row for row in rows if row["kpi_id"] == kpi["kpi_id"]]
    own_monthly = [row for row in monthly if row["kpi_id"] == kpi["kpi_id"]]
    grains = {row["period_grain"] for row in own}
    headline_grain = next((g for g in HEADLINE_GRAINS if g in grains), None)
    scope = next((s for s in ("municipality", "route") if s in kpi["grain"]), "city")
    card = {
        **kpi,
        "focus_area_th": FOCUS_AREAS_TH.get(kpi["focus_area"], kpi["focus_area"]),
        "smart_dimension_th": DIMENSIONS_TH.get(kpi["smart_dimension"], ""),
        "unit_th": UNITS_TH.get(kpi["unit"], kpi["unit"]),
        "target_display": _target_display(kpi),
        "numerator_label": NUMERATOR_LABELS.get(kpi["kpi_id"]),
        "scope": scope,
        "headline_grain": headline_grain,
        "headline": {},
        "secondary": {},
        "trend": {},
        "trend_kind": None,
    }
    if headline_grain is None:
        return card
    headline_rows = [row for row in own if row["period_grain"] == headline_grain]
    if scope == "route":  # each route's own latest day (day rows are read latest only)
        in_order = sorted(headline_rows, key=lambda row: row["period_start"])
        latest = {row["route_id"]: row for row in in_order}
        card["headline"] = {route: _shown(row, kpi, today) for route, row in latest.items()}
    else:
        card["headline"] = _latest_by_key(headline_rows, scope, kpi, today)
    other = next((g for g in HEADLINE_GRAINS if g in grains - {headline_grain}), None)
    if other is not None:  # MI01, MI02: the fiscal year beside the month
        secondary = [row for row in own if row["period_grain"] == other]
        card["secondary"] = _latest_by_key(secondary, scope, kpi, today)
    if headline_grain == "day":
        card["trend_kind"] = "monthly summary of days"
        # a route KPI gets one line for all routes together: six lines would not be legible
        summaries = {"all": own_monthly} if scope == "route" else _by_key(own_monthly, scope)
        card["trend"] = {
            key: _monthly_trend(series, kpi, today) for key, series in summaries.items()
        }
    elif headline_grain == "month":
        card["trend_kind"] = "months"
        card["trend"] = _month_trend(headline_rows, scope, kpi, today)
    else:
        card["trend_kind"] = "years"
        card["trend"] = {
            key: [_point(row, kpi, today) for row in series[-TREND_PERIODS:]]
            for key, series in _by_key(headline_rows, scope).items()
        }
    return card


def status_of(
    value: float | None,
    target: float | None,
    direction: str | None,
    in_progress: bool = False,
    partial: bool = False,
) -> str:
    """The status rule of ``fct_kpi_values``, for the monthly summaries of day-grain KPIs."""
    if value is None:
        return "no_data"
    if in_progress:
        return "in_progress"
    if partial:
        return "partial"
    if target is None:
        return "no_target"
    met = value >= target if direction == "higher" else value <= target
    return "met" if direction in ("higher", "lower") and met else "not_met"


def format_value(value: float | None, unit: str | None) -> str:
    """A value as the page shows it: shares in per cent, THB whole, counts with separators."""
    if value is None:
        return "–"
    if unit == "share":
        return f"{value * 100:,.1f}%"
    if unit == "THB":
        return f"฿{value:,.0f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


def period_labels(grain: str, start: date, fiscal_year_be: int | None = None) -> dict[str, str]:
    """The period in English and Thai (Buddhist-era years), and short for a chart's axis."""
    be = start.year + BE_OFFSET
    month_en, month_th = MONTHS_EN[start.month - 1], MONTHS_TH[start.month - 1]
    if grain == "day":
        return {
            "en": f"{start.day} {month_en} {start.year}",
            "th": f"{start.day} {month_th} {be}",
            "short": f"{start.day} {month_en}",
        }
    if grain == "month":
        return {
            "en": f"{month_en} {start.year}",
            "th": f"{month_th} {be}",
            "short": f"{month_en} {start.year}",
        }
    if grain == "year":
        return {"en": str(start.year), "th": f"พ.ศ. {be}", "short": str(start.year)}
    fiscal = fiscal_year_be or be + 1  # named after the year it ends: Oct 2026 is in FY 2570
    return {
        "en": f"FY {fiscal} BE (Oct {start.year} – Sep {start.year + 1})",
        "th": f"ปีงบประมาณ {fiscal}",
        "short": f"FY {fiscal}",
    }


# --- the pieces of a card ------------------------------------------------------------------


def _key(row: dict[str, Any], scope: str) -> str:
    if scope == "municipality":
        return row["municipality_id"] or "city"
    if scope == "route":
        return row["route_id"] or "city"
    return "city"


def _by_key(rows: Iterable[dict[str, Any]], scope: str) -> dict[str, list[dict[str, Any]]]:
    """Rows per municipality / route / ``city``, each list in period order."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["period_start"]):
        grouped[_key(row, scope)].append(row)
    return dict(grouped)


def _latest_by_key(
    rows: list[dict[str, Any]], scope: str, kpi: dict[str, Any], today: date
) -> dict[str, Any]:
    """Each key's row at the KPI's latest complete period of this grain (else the latest that
    has ended, else the latest); a key without one is absent."""
    if not rows:
        return {}
    complete = [row["period_start"] for row in rows if row.get("is_complete", True)]
    ended = [row["period_start"] for row in rows if row["period_end"] < today]
    latest = max(complete or ended or [row["period_start"] for row in rows])
    return {
        _key(row, scope): _shown(row, kpi, today) for row in rows if row["period_start"] == latest
    }


def _shown(row: dict[str, Any], kpi: dict[str, Any], today: date) -> dict[str, Any]:
    """A row of fct_kpi_values as a card shows it: the value (unless suppressed) and its text."""
    shown = _point(row, kpi, today) | {
        "municipality_id": row["municipality_id"],
        "route_id": row["route_id"],
        "period_grain": row["period_grain"],
        "run_id": row["run_id"],
    }
    if kpi["kpi_id"] in NUMERATOR_LABELS and not shown["is_suppressed"]:
        shown["numerator_display"] = format_value(row["numerator"], None)
    return shown


def _point(row: dict[str, Any], kpi: dict[str, Any], today: date) -> dict[str, Any]:
    """A period's value with its labels; a suppressed value is left out, not only hidden."""
    start, grain = row["period_start"], row["period_grain"]
    suppressed = is_suppressed(kpi["focus_area"], row.get("numerator"), row.get("denominator"))
    value = None if suppressed else row["value"]
    complete = row.get("is_complete")
    if complete is None:  # a missing month, or a month summarised from days
        complete = grain == "day" or _period_end(grain, start) < today
    return {
        "period_start": start.isoformat(),
        "label": period_labels(grain, start, row.get("fiscal_year_be")),
        "value": value,
        "display": "suppressed" if suppressed else format_value(value, kpi["unit"]),
        "status": "suppressed" if suppressed else row["status"],
        "is_suppressed": suppressed,
        "is_partial": not complete,
        "coverage": _coverage(row),
    }


def _coverage(row: dict[str, Any]) -> dict[str, int] | None:
    """``{"days": covered, "of": days in the period}`` of an incomplete row, else None."""
    covered, days = row.get("coverage_days"), row.get("period_days")
    if covered is None or days is None or covered == days:
        return None
    return {"days": covered, "of": days}


def _month_trend(
    rows: list[dict[str, Any]], scope: str, kpi: dict[str, Any], today: date
) -> dict[str, list[dict[str, Any]]]:
    """Per key, the 12 months up to the KPI's latest month; a month without a row has no value."""
    months = _months_to(max(row["period_start"] for row in rows))
    trend = {}
    for key, series in _by_key(rows, scope).items():
        found = {row["period_start"]: row for row in series}
        trend[key] = [_point(found.get(month) or _missing(month), kpi, today) for month in months]
    return trend


def _monthly_trend(
    monthly: list[dict[str, Any]], kpi: dict[str, Any], today: date
) -> list[dict[str, Any]]:
    """A day-grain KPI per month: sum(numerator) / sum(denominator) over its days."""
    if not monthly:
        return []
    found = {row["period_start"]: row for row in monthly}
    points = []
    for month in _months_to(max(found)):
        row = found.get(month)
        value = row["value"] if row else None
        days = (_period_end("month", month) - month).days + 1
        in_progress = _period_end("month", month) >= today
        covered = min(row["days"] if row else 0, days)
        point = _point(
            {
                "period_grain": "month",
                "period_start": month,
                "value": value,
                "numerator": row["numerator"] if row else None,
                "denominator": row["denominator"] if row else None,
                "status": status_of(
                    value, kpi["target"], kpi["direction"], in_progress, covered < days
                ),
                "is_complete": not in_progress and covered == days,
                "coverage_days": covered,
                "period_days": days,
            },
            kpi,
            today,
        )
        points.append(point | {"is_summary": True, "days": row["days"] if row else 0})
    return points


def _missing(month: date) -> dict[str, Any]:
    return {"period_grain": "month", "period_start": month, "value": None, "status": "no_data"}


def _months_to(last: date) -> list[date]:
    """The ``TREND_PERIODS`` month starts ending with ``last``'s month, oldest first."""
    index = last.year * 12 + last.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - TREND_PERIODS + 1, index + 1)]


def _period_end(grain: str, start: date) -> date:
    if grain == "day":
        return start
    index = start.year * 12 + start.month - 1 + (1 if grain == "month" else 12)
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def _target_display(kpi: dict[str, Any]) -> str | None:
    if kpi["target"] is None:
        return None
    sign = {"higher": "≥ ", "lower": "≤ "}.get(kpi["direction"], "")
    return sign + format_value(kpi["target"], kpi["unit"])


def _focus_areas(catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The focus areas in catalogue order (the three of the programme, then cross-cutting)."""
    order = list(FOCUS_AREAS_TH)
    areas = sorted(
        {kpi["focus_area"] for kpi in catalogue},
        key=lambda a: (order.index(a) if a in order else len(order), a),
    )
    return [
        {
            "name": area,
            "en": FOCUS_AREAS_EN.get(area, area),
            "th": FOCUS_AREAS_TH.get(area, ""),
            "kpi_ids": [kpi["kpi_id"] for kpi in catalogue if kpi["focus_area"] == area],
        }
        for area in areas
    ]


# --- run, freshness and the quality report --------------------------------------------------


def _kpi_run(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The run that computed the newest KPI rows (older periods may keep earlier runs' ids)."""
    found = _dicts(
        con.execute(
            """
            select f.run_id, count(*) as kpi_rows, max(f.period_end) as newest_period,
                   any_value(r.flow_name) as flow_name,
                   any_value(r.finished_at) as finished_at,
                   any_value(r.root_run_id) as root_run_id
            from marts.fct_kpi_values f left join audit.runs r using (run_id)
            group by f.run_id order by newest_period desc, kpi_rows desc
            """
        )
    )
    newest = found[0]
    finished = newest["finished_at"]
    return {
        "run_id": newest["run_id"],
        "flow_name": newest["flow_name"],
        "root_run_id": newest["root_run_id"],
        "finished_at": finished.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")
        if finished
        else None,
        "kpi_rows": newest["kpi_rows"],
        "other_runs": len(found) - 1,
    }


def _freshness(status: Any) -> dict[str, Any]:
    def bangkok(moment: datetime | None) -> str | None:
        return moment.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M") if moment else None

    en, th = FRESHNESS[status.freshness]
    return {
        "dataset": status.dataset,
        "freshness": status.freshness,
        "label": {"en": en, "th": th},
        "newest_at": bangkok(status.newest_at),
        "last_batch_at": bangkok(status.last_batch_at),
        "lag_hours": status.lag_hours,
    }


def _quality_report_link(data_dir: Path, folder: Path, report: Path | None) -> str | None:
    """Relative link to ``report``, else to the newest data-quality report written, if any."""
    if report is None:
        reports = [
            page
            for page in (data_dir / "reports" / "quality").glob("*/index.html")
            if page.is_file()
        ]
        if not reports:
            return None
        report = max(reports, key=lambda page: page.stat().st_mtime)
    return Path(os.path.relpath(report, folder)).as_posix()


# --- reading the warehouse ------------------------------------------------------------------


def _require_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    present = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name in ('fct_kpi_values', 'dim_kpi', 'municipalities')"
    ).fetchone()[0]
    empty = (
        present < 3 or not con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0]
    )
    if empty:
        raise NoKpisError(
            f"no KPIs in {settings.warehouse.path}: run `smartcity run` (or `transform`) first"
        )


def _dicts(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [column[0] for column in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
