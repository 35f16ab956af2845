"""Partner exports: each partner's KPI tables as Parquet and CSV, with a manifest and a README.

``data/exports/<partner>/<run date>/`` holds, per table, ``<table>.parquet`` and ``<table>.csv``
(UTF-8 with a byte-order mark, so Excel shows Thai; ISO dates; a decimal point; values rounded to
the KPI's published decimals, while Parquet keeps full precision), ``manifest.json`` (rows,
sha256 and typed columns of every file) and ``README.txt`` (each column in Thai and English).
The tables: ``kpi_values`` (the partner's municipalities and city-wide values),
``kpi_values_by_route`` (per-route detail, for a partner taking city-wide values of a per-route
KPI) and ``kpi_catalogue``.

What a partner may see is decided here, and only here:

- scope (``partners.yml``): a row is written when its KPI is the partner's and its municipality is
  too, or it has none (a city-wide or per-route value) and the partner takes city-wide values;
- small counts: a Medical & Healthcare row whose numerator or denominator is under 5 (they count
  people or dispatches) has its numerator, denominator, value and status blanked and
  ``is_suppressed`` set, since a value derived from a small count can be turned back into it;
- personal data: the columns are a fixed list with no name, phone or ID among them, and a
  written cell that still looks like a Thai phone number, national ID or e-mail address
  (:mod:`warehouse.privacy`) stops the export.

A rerun on the same data writes the same bytes: the run date and ``generated_at`` come from the
KPI build that computed the rows (its ledger row in ``audit.runs``), never from the clock, rows
are in a fixed order and Parquet is written with fixed options. A day's folder is built in a
hidden sibling and swapped in with a rename, so a reader sees the old export or the new one whole.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from connectors.base import BANGKOK
from warehouse.db import Warehouse
from warehouse.kpis import HEALTH_AREA, PUBLISHED_KPI_VALUES_SQL, SMALL_COUNT
from warehouse.privacy import NAME, find_personal_data

PARTNERS_FILE = Path(__file__).resolve().parent.parent / "partners.yml"
_PARTNER_ID = re.compile(r"^[a-z0-9_]+$")


class PartnerError(ValueError):
    """``partners.yml`` is malformed, names an unknown partner, KPI or municipality."""


class PersonalDataError(RuntimeError):
    """A cell about to be written looks like a phone number or a Thai national ID."""


# --- partners ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name_en: str
    name_th: str
    kpis: tuple[str, ...] | None  # None: every KPI
    municipalities: tuple[str, ...] | None  # None: every municipality
    city_wide: bool


def load_partners(path: Path = PARTNERS_FILE) -> dict[str, Partner]:
    """Every partner of ``partners.yml``, by id, checked for shape (not yet against the data)."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PartnerError(f"cannot read {path}: {error}") from None
    entries = document.get("partners") if isinstance(document, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise PartnerError(f"{path}: expected a 'partners:' mapping of partner id to settings")
    return {str(pid): _partner(path, str(pid), entry) for pid, entry in entries.items()}


def select_partners(known: Mapping[str, Partner], wanted: Iterable[str] | None) -> list[Partner]:
    """The partners asked for (default: all, in file order); an unknown id is an error."""
    if wanted is None:
        return list(known.values())
    wanted = list(dict.fromkeys(wanted))
    unknown = [pid for pid in wanted if pid not in known]
    if unknown:
        raise PartnerError(
            f"unknown partner(s) {', '.join(unknown)}; partners.yml has {', '.join(known)}"
        )
    return [known[pid] for pid in wanted]


def _partner(path: Path, partner_id: str, entry: Any) -> Partner:
    where = f"{path}: partner {partner_id!r}"
    if not _PARTNER_ID.match(partner_id):
        raise PartnerError(f"{where}: ids are lower-case letters, digits and _ (a folder name)")
    if not isinstance(entry, dict):
        raise PartnerError(f"{where}: expected a mapping")
    city_wide = entry.get("city_wide", False)
    if not isinstance(city_wide, bool):
        raise PartnerError(f"{where}: city_wide must be true or false")
    return Partner(
        partner_id=partner_id,
        name_en=str(entry.get("name_en", partner_id)),
        name_th=str(entry.get("name_th", "")),
        kpis=_ids_or_all(where, "kpis", entry.get("kpis")),
        municipalities=_ids_or_all(where, "municipalities", entry.get("municipalities")),
        city_wide=city_wide,
    )


def _ids_or_all(where: str, field: str, value: Any) -> tuple[str, ...] | None:
    if value == "all":
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise PartnerError(f'{where}: {field} must be "all" or a list of ids, not {value!r}')


# --- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    en: str
    th: str


@dataclass(frozen=True)
class Table:
    name: str
    en: str
    th: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])


_KPI_NAMES = (
    Column("kpi_id", pa.string(), "KPI id (see kpi_catalogue)", "รหัสตัวชี้วัด (ดู kpi_catalogue)"),
    Column("kpi_name_en", pa.string(), "KPI name in English", "ชื่อตัวชี้วัดภาษาอังกฤษ"),
    Column("kpi_name_th", pa.string(), "KPI name in Thai", "ชื่อตัวชี้วัดภาษาไทย"),
    Column("focus_area", pa.string(), "Focus area of the programme", "ด้านของโครงการ"),
)
_MUNICIPALITY = (
    Column(
        "municipality_id",
        pa.string(),
        "Municipality id; blank for a city-wide value",
        "รหัสเทศบาล ว่างเมื่อเป็นค่าระดับเมือง",
    ),
    Column(
        "municipality_name_en", pa.string(), "Municipality name in English", "ชื่อเทศบาลภาษาอังกฤษ"
    ),
    Column("municipality_name_th", pa.string(), "Municipality name in Thai", "ชื่อเทศบาลภาษาไทย"),
)
_ROUTE = (
    Column(
        "route_id",
        pa.string(),
        "Bus or rail route (GTFS route_id) of a per-route KPI, e.g. TR03",
        "รหัสเส้นทางเดินรถ (GTFS route_id) ของตัวชี้วัดรายเส้นทาง เช่น TR03",
    ),
)
_PERIOD_AND_VALUE = (
    Column(
        "period_grain",
        pa.string(),
        "Length of the period: day, month, year or fiscal_year",
        "ระดับของช่วงเวลา: day (วัน) month (เดือน) year (ปี) หรือ fiscal_year (ปีงบประมาณ)",
    ),
    Column(
        "period_label",
        pa.string(),
        "The period with its length, as text: day 2026-10-05, month 2026-10, year 2026 or "
        "FY 2570 BE",
        "ช่วงเวลาพร้อมระดับ เป็นข้อความ เช่น day 2026-10-05, month 2026-10, year 2026 หรือ "
        "FY 2570 BE (ปีงบประมาณ พ.ศ.)",
    ),
    Column(
        "period_start",
        pa.date32(),
        "First day of the period, YYYY-MM-DD (Common Era)",
        "วันแรกของช่วงเวลา รูปแบบ YYYY-MM-DD (ปี ค.ศ.)",
    ),
    Column(
        "period_end",
        pa.date32(),
        "Last day of the period, YYYY-MM-DD (Common Era)",
        "วันสุดท้ายของช่วงเวลา รูปแบบ YYYY-MM-DD (ปี ค.ศ.)",
    ),
    Column(
        "year_be",
        pa.int32(),
        "Buddhist-era year of period_start (CE + 543)",
        "ปี พ.ศ. ของวันแรกของช่วงเวลา (ค.ศ. + 543)",
    ),
    Column(
        "fiscal_year_be",
        pa.int32(),
        "Thai fiscal year (1 October to 30 September) of period_start, BE",
        "ปีงบประมาณ (1 ตุลาคม ถึง 30 กันยายน) ของวันแรกของช่วงเวลา เป็น พ.ศ.",
    ),
    Column("period_days", pa.int32(), "Days in the period", "จำนวนวันในช่วงเวลา"),
    Column(
        "coverage_days",
        pa.int32(),
        "Days of the period the value is built from (before the export's day, and within the "
        "source's history)",
        "จำนวนวันของช่วงเวลาที่ใช้คำนวณค่า (ก่อนวันที่ส่งออก และอยู่ในช่วงที่มีข้อมูลจากแหล่งข้อมูล)",
    ),
    Column(
        "is_complete",
        pa.bool_(),
        "true when coverage_days = period_days; an incomplete period is not judged against "
        "the target",
        "true เมื่อ coverage_days = period_days ช่วงเวลาที่ไม่ครบจะไม่ถูกเทียบกับเป้าหมาย",
    ),
    Column(
        "value",
        pa.float64(),
        "KPI value, rounded to the KPI's decimals in the CSV (full precision in Parquet); "
        "blank when there is no data or it is suppressed",
        "ค่าตัวชี้วัด ในไฟล์ CSV ปัดตามจำนวนทศนิยมของตัวชี้วัด (ไฟล์ Parquet เก็บค่าเต็ม) ว่างเมื่อไม่มีข้อมูลหรือถูกปกปิด",
    ),
    Column(
        "numerator",
        pa.float64(),
        "Numerator of the formula (see kpi_catalogue.formula); blank when it has none or "
        "it is suppressed",
        "ตัวตั้งของสูตร (ดู kpi_catalogue.formula) ว่างเมื่อไม่มีหรือถูกปกปิด",
    ),
    Column(
        "denominator",
        pa.float64(),
        "Denominator of the formula; blank when it has none or it is suppressed",
        "ตัวหารของสูตร ว่างเมื่อไม่มีหรือถูกปกปิด",
    ),
    Column("unit", pa.string(), "Unit of value", "หน่วยของค่าตัวชี้วัด"),
    Column("target", pa.float64(), "Target; blank when none is set", "ค่าเป้าหมาย ว่างเมื่อไม่ได้กำหนด"),
    Column(
        "status",
        pa.string(),
        "Against the target: met, not_met or no_target for a complete period; in_progress "
        "(the period has not ended) or partial (it has ended, the data covers part of it); "
        "no_data; suppressed",
        "ผลเทียบกับเป้าหมาย: met (บรรลุ) not_met (ไม่บรรลุ) no_target (ไม่มีเป้าหมาย) "
        "เมื่อช่วงเวลาครบ in_progress (ช่วงเวลายังไม่สิ้นสุด) partial (สิ้นสุดแล้วแต่ข้อมูลไม่ครบ) "
        "no_data (ไม่มีข้อมูล) หรือ suppressed (ปกปิด)",
    ),
    Column(
        "is_suppressed",
        pa.bool_(),
        f"true when a health count below {SMALL_COUNT} was hidden: numerator, denominator, "
        "value and status are blank",
        f"true เมื่อจำนวนด้านสุขภาพน้อยกว่า {SMALL_COUNT} จึงปกปิดตัวตั้ง ตัวหาร ค่า และสถานะ",
    ),
    Column(
        "run_id",
        pa.string(),
        "The pipeline run that computed the row",
        "รหัสการประมวลผลที่คำนวณแถวนี้",
    ),
)

KPI_VALUES = Table(
    "kpi_values",
    "One row per KPI, period and municipality, or city-wide.",
    "หนึ่งแถวต่อตัวชี้วัด ช่วงเวลา และเทศบาล หรือค่าระดับเมือง",
    (*_KPI_NAMES, *_MUNICIPALITY, *_PERIOD_AND_VALUE),
)
KPI_VALUES_BY_ROUTE = Table(
    "kpi_values_by_route",
    "One row per per-route KPI, period and route.",
    "หนึ่งแถวต่อตัวชี้วัดรายเส้นทาง ช่วงเวลา และเส้นทางเดินรถ",
    (*_KPI_NAMES, *_ROUTE, *_PERIOD_AND_VALUE),
)

KPI_CATALOGUE = Table(
    "kpi_catalogue",
    "One row per KPI in this export: what it measures and how.",
    "หนึ่งแถวต่อตัวชี้วัดในชุดข้อมูลนี้: วัดอะไรและคำนวณอย่างไร",
    (
        Column("kpi_id", pa.string(), "KPI id", "รหัสตัวชี้วัด"),
        Column("name_en", pa.string(), "Name in English", "ชื่อภาษาอังกฤษ"),
        Column("name_th", pa.string(), "Name in Thai", "ชื่อภาษาไทย"),
        Column("focus_area", pa.string(), "Focus area of the programme", "ด้านของโครงการ"),
        Column("smart_dimension", pa.string(), "Smart city dimension", "มิติของเมืองอัจฉริยะ"),
        Column("unit", pa.string(), "Unit of the value", "หน่วยของค่าตัวชี้วัด"),
        Column(
            "decimals",
            pa.int32(),
            "Decimals the values are rounded to in the CSV files",
            "จำนวนตำแหน่งทศนิยมของค่าในไฟล์ CSV",
        ),
        Column(
            "direction",
            pa.string(),
            "Which way is better: higher, lower or none",
            "ทิศทางที่ดีกว่า: higher (สูงกว่าดี) lower (ต่ำกว่าดี) หรือ none (ไม่กำหนด)",
        ),
        Column(
            "target", pa.float64(), "Target; blank when none is set", "ค่าเป้าหมาย ว่างเมื่อไม่ได้กำหนด"
        ),
        Column("owner", pa.string(), "Agency that owns the KPI", "หน่วยงานเจ้าของตัวชี้วัด"),
        Column("standard_ref", pa.string(), "Reference standard, if any", "มาตรฐานอ้างอิง (ถ้ามี)"),
        Column("grain", pa.string(), "Level of detail of the values", "ระดับรายละเอียดของค่า"),
        Column("formula", pa.string(), "How the value is computed", "วิธีคำนวณค่า"),
    ),
)

TABLES = (KPI_VALUES, KPI_VALUES_BY_ROUTE, KPI_CATALOGUE)

_IN_SCOPE = """($all_kpis or kpi_id in (select unnest($kpis::varchar[])))"""
_KPI_VALUES_SQL = f"""
select * from ({PUBLISHED_KPI_VALUES_SQL})
where {_IN_SCOPE} and route_id is null
  and (municipality_id in (select unnest($municipalities::varchar[]))
       or ($all_municipalities and municipality_id is not null)
       or (municipality_id is null and $city_wide))
order by kpi_id, period_grain, period_start, municipality_id nulls first
"""
_KPI_VALUES_BY_ROUTE_SQL = f"""
select * from ({PUBLISHED_KPI_VALUES_SQL})
where {_IN_SCOPE} and route_id is not null and $city_wide
order by kpi_id, period_grain, period_start, route_id
"""
# a partner gets the per-route file when it takes city-wide values of a KPI measured per route
_ROUTE_KPIS_SQL = f"""
select count(*) from marts.dim_kpi where {_IN_SCOPE} and grain like 'route%' and $city_wide
"""

_KPI_CATALOGUE_SQL = f"""
select kpi_id, name_en, name_th, focus_area, smart_dimension, unit, decimals, direction, target,
       owner, standard_ref, grain, formula
from marts.dim_kpi
where {_IN_SCOPE}
order by kpi_id
"""


@dataclass(frozen=True)
class PartnerTable:
    """One table of a partner's export: its rows as typed, and each row's published decimals."""

    table: Table
    data: pa.Table
    decimals: list[int | None]


def read_tables(con: duckdb.DuckDBPyConnection, partner: Partner) -> dict[str, PartnerTable]:
    """The partner's tables, in scope, suppressed and in a fixed order, typed as declared."""
    _check_ids(con, partner)
    params = {
        "all_kpis": partner.kpis is None,
        "kpis": list(partner.kpis or ()),
        "all_municipalities": partner.municipalities is None,
        "municipalities": list(partner.municipalities or ()),
        "city_wide": partner.city_wide,
    }

    def run(sql: str) -> pa.Table:
        return con.sql(
            sql, params={k: v for k, v in params.items() if f"${k}" in sql}
        ).to_arrow_table()

    queries = [(KPI_VALUES, _KPI_VALUES_SQL), (KPI_CATALOGUE, _KPI_CATALOGUE_SQL)]
    if run(_ROUTE_KPIS_SQL).column(0)[0].as_py():
        queries.insert(1, (KPI_VALUES_BY_ROUTE, _KPI_VALUES_BY_ROUTE_SQL))
    tables = {}
    for table, sql in queries:
        arrow = run(sql)
        decimals = arrow.column("decimals").to_pylist()
        typed = arrow.select(table.schema.names).cast(table.schema)
        tables[table.name] = PartnerTable(table, typed, decimals)
    return tables


def _check_ids(con: duckdb.DuckDBPyConnection, partner: Partner) -> None:
    """An id in partners.yml that the warehouse does not know is a typo, not an empty scope."""
    for field, sql in (
        ("kpis", "select kpi_id from marts.dim_kpi"),
        ("municipalities", "select municipality_id from marts.municipalities"),
    ):
        listed = getattr(partner, field)
        known = {row[0] for row in con.execute(sql).fetchall()}
        unknown = sorted(set(listed or ()) - known)
        if unknown:
            raise PartnerError(
                f"partners.yml: partner {partner.partner_id!r} lists unknown {field} "
                f"{', '.join(unknown)}"
            )


# --- the KPI build the rows come from ---------------------------------------------------------


@dataclass(frozen=True)
class KpiBuild:
    """The build that computed the newest KPI rows: the export's identity and its date."""

    run_id: str
    dbt_invocation_id: str
    generated_at: datetime  # UTC
    generated_at_from: str
    as_of: date | None = None  # the day the build took as today (SMARTCITY_TODAY may pin it)

    @property
    def run_date(self) -> date:
        return self.as_of or self.generated_at.astimezone(BANGKOK).date()


def kpi_build(con: duckdb.DuckDBPyConnection) -> KpiBuild:
    """The KPI build the export stands for, with its time, read from the warehouse.

    An incremental build recomputes the recent periods, so the row with the newest period comes
    from the latest build. Its time is that run's end in the ledger, its date the day it took
    as today; a build made with dbt by hand has no ledger row, and then the newest batch received
    (the data it could see) dates it.
    """
    found = con.execute(
        "select run_id, dbt_invocation_id from marts.fct_kpi_values "
        "order by period_end desc, run_id, dbt_invocation_id limit 1"
    ).fetchone()
    if found is None:
        raise LookupError("no KPI values in the warehouse: run `smartcity run` first")
    run_id, invocation_id = found
    ledger = con.execute(
        "select coalesce(finished_at, started_at), as_of from audit.runs where run_id = ?",
        [run_id],
    ).fetchone()
    if ledger is not None:
        finished, as_of = ledger
        return KpiBuild(run_id, invocation_id, finished.astimezone(UTC), "audit.runs", as_of)
    [(newest,)] = con.execute("select max(received_at) from audit.batches").fetchall()
    if newest is None:
        raise LookupError(f"KPI build {run_id} is not in audit.runs and no batch is recorded")
    return KpiBuild(run_id, invocation_id, newest.astimezone(UTC), "audit.batches")


# --- writing ----------------------------------------------------------------------------------


def export_partner(warehouse: Warehouse, partner: Partner, exports_dir: Path) -> Path:
    """Write the partner's export of the current KPI build; return its day folder."""
    with warehouse.read() as con:
        build = kpi_build(con)
        tables = read_tables(con, partner)
        names = dict(
            con.execute("select municipality_id, name_th from marts.municipalities").fetchall()
        )
    target = Path(exports_dir) / partner.partner_id / build.run_date.isoformat()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        files = []
        for written in tables.values():
            rows = csv_rows(written)
            refuse_personal_data(written.table.name, rows)
            files.append(_write_parquet(staged, written.table, written.data))
            files.append(_write_csv(staged, written.table, rows))
        suppressed = sum(
            sum(1 for flag in t.data["is_suppressed"].to_pylist() if flag)
            for t in tables.values()
            if "is_suppressed" in t.data.schema.names
        )
        manifest = _manifest(partner, build, files, suppressed)
        (staged / "manifest.json").write_bytes(manifest)
        readme = _readme(partner, build, [t.table for t in tables.values()], names)
        (staged / "README.txt").write_bytes(readme.encode("utf-8-sig"))
        os.chmod(staged, 0o755)  # mkdtemp makes it private; the export is for others to read
        replace_folder(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return target


# columns rounded to the KPI's published decimals in the CSV files
ROUNDED = ("value", "target")


def csv_rows(written: PartnerTable) -> list[list[str]]:
    """The table as CSV cells: header first, ISO dates, a decimal point, blank for null, values
    and targets rounded to their KPI's decimals."""
    names = written.data.schema.names
    rows = [names]
    for row, decimals in zip(written.data.to_pylist(), written.decimals, strict=True):
        rows.append([_cell(v, decimals if name in ROUNDED else None) for name, v in row.items()])
    return rows


def _cell(value: Any, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if decimals is not None:
            return f"{value:.{decimals}f}"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)  # shortest round-trip form, always with "." (never the locale's ",")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class WrittenFile:
    name: str
    table: Table
    format: str
    rows: int
    content: bytes


def _write_parquet(folder: Path, table: Table, data: pa.Table) -> WrittenFile:
    sink = pa.BufferOutputStream()
    pq.write_table(
        data,
        sink,
        compression="snappy",  # read by every Parquet reader partners are likely to have
        use_dictionary=True,
        write_statistics=True,
        version="2.6",
        data_page_version="1.0",
        row_group_size=1_000_000,
        store_schema=True,
    )
    content = sink.getvalue().to_pybytes()
    return _store(
        folder, WrittenFile(f"{table.name}.parquet", table, "parquet", data.num_rows, content)
    )


def _write_csv(folder: Path, table: Table, rows: list[list[str]]) -> WrittenFile:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    content = text.getvalue().encode("utf-8-sig")  # the BOM tells Excel the file is UTF-8
    return _store(folder, WrittenFile(f"{table.name}.csv", table, "csv", len(rows) - 1, content))


def _store(folder: Path, written: WrittenFile) -> WrittenFile:
    (folder / written.name).write_bytes(written.content)
    return written


def _manifest(
    partner: Partner, build: KpiBuild, files: list[WrittenFile], suppressed: int
) -> bytes:
    document = {
        "partner": partner.partner_id,
        "partner_name_en": partner.name_en,
        "partner_name_th": partner.name_th,
        "run_date": build.run_date.isoformat(),
        "run_id": build.run_id,
        "generated_at": build.generated_at.isoformat(),
        "generated_at_from": build.generated_at_from,
        "dbt_invocation_id": build.dbt_invocation_id,
        "scope": {
            "kpis": list(partner.kpis) if partner.kpis is not None else "all",
            "municipalities": (
                list(partner.municipalities) if partner.municipalities is not None else "all"
            ),
            "city_wide": partner.city_wide,
        },
        "suppression": {
            "rule": f"{HEALTH_AREA} KPIs: numerator or denominator below {SMALL_COUNT} blanks "
            "numerator, denominator, value and status, and sets is_suppressed",
            "rows_suppressed": suppressed,
        },
        "files": [
            {
                "name": f.name,
                "table": f.table.name,
                "format": f.format,
                "rows": f.rows,
                "bytes": len(f.content),
                "sha256": hashlib.sha256(f.content).hexdigest(),
                "columns": [{"name": c.name, "type": str(c.type)} for c in f.table.columns],
            }
            for f in files
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _readme(
    partner: Partner, build: KpiBuild, tables: list[Table], names_th: Mapping[str, str]
) -> str:
    lines = [
        f"{partner.name_th} / {partner.name_en}",
        f"ข้อมูลตัวชี้วัดเมืองอัจฉริยะขอนแก่น ณ วันที่ {build.run_date.isoformat()}",
        f"Khon Kaen Smart City KPI export of {build.run_date.isoformat()}",
        "",
        "แต่ละตารางมีสองไฟล์ที่มีข้อมูลเดียวกัน: .csv (UTF-8 เปิดด้วย Excel ได้) และ .parquet",
        "manifest.json ระบุจำนวนแถว ค่า sha256 และชนิดของคอลัมน์ของทุกไฟล์",
        f"ค่าด้านการแพทย์และสุขภาพที่นับจากจำนวนน้อยกว่า {SMALL_COUNT} ถูกปกปิด "
        "(เว้นว่างและ is_suppressed = true) เพื่อไม่ให้ระบุตัวบุคคลได้",
        "ช่วงเวลาที่ยังไม่สิ้นสุด (สถานะ in_progress) หรือมีข้อมูลไม่ครบช่วง (สถานะ partial) "
        "จะไม่ถูกเทียบกับค่าเป้าหมาย ดู coverage_days และ is_complete",
        "",
        "Each table comes as two files with the same rows: .csv (UTF-8, opens in Excel) and "
        ".parquet.",
        "manifest.json gives every file's row count, sha256 and column types.",
        f"Health values computed from counts below {SMALL_COUNT} are suppressed (left blank, "
        "is_suppressed = true) so that no person can be identified.",
        "Dates are YYYY-MM-DD; numbers use a decimal point; a blank cell means no value.",
        "A period that has not ended (status in_progress), or that the data covers only in part "
        "(status partial), is not judged against its target: see coverage_days and is_complete.",
        "",
        f"ตัวชี้วัด / KPIs: {_listed(partner.kpis)}",
        f"เทศบาล / municipalities: {_listed(partner.municipalities, names_th)}",
        f"ค่าระดับเมืองและรายเส้นทาง / city-wide and per-route values: "
        f"{'มี / yes' if partner.city_wide else 'ไม่มี / no'}",
        f"การประมวลผล / KPI build: {build.run_id}, {build.generated_at.isoformat()}",
    ]
    for table in tables:
        lines += ["", f"{table.name}.csv / {table.name}.parquet", f"  {table.th}", f"  {table.en}"]
        for column in table.columns:
            lines += [
                f"  - {column.name}: {column.th}",
                f"    {' ' * len(column.name)}  {column.en}",
            ]
    return "\n".join(lines) + "\n"


def _listed(ids: tuple[str, ...] | None, names_th: Mapping[str, str] | None = None) -> str:
    if ids is None:
        return "ทั้งหมด / all"
    if not ids:
        return "ไม่มี / none"
    names = names_th or {}
    return ", ".join(f"{names[i]} ({i})" if i in names else i for i in ids)


# --- safety nets ------------------------------------------------------------------------------


def refuse_personal_data(table: str, rows: list[list[str]]) -> None:
    """Stop before writing a cell holding a Thai national ID, a phone number or an e-mail
    address (:mod:`warehouse.privacy`); KPI tables have no free text where a name could be."""
    for number, row in enumerate(rows[1:], start=1):
        for name, cell in zip(rows[0], row, strict=True):
            found = [kind for kind, _ in find_personal_data(cell) if kind != NAME]
            if found:
                raise PersonalDataError(
                    f"{table} row {number}, column {name}: looks like personal data "
                    f"({', '.join(sorted(set(found)))}); not exported"
                )


# --- the atomic swap --------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def replace_folder(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target`` with a rename; the previous folder, if any, is removed.

    On Linux an existing folder is exchanged with the new one in one step (``renameat2`` with
    ``RENAME_EXCHANGE``), so ``target`` always exists. Elsewhere the old folder is renamed aside
    first, leaving ``target`` absent for an instant, but never half-written.
    """
    if not target.exists():
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        shutil.rmtree(staged)  # it now holds the previous export
        return
    previous = staged.with_name(staged.name.replace(".staging", ".previous"))
    os.rename(target, previous)
    try:
        os.rename(staged, target)
    except BaseException:
        os.rename(previous, target)  # put the previous export back
        raise
    shutil.rmtree(previous)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically if the OS and file system can; False when they cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    done = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    return done == 0
