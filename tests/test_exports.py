"""Partner exports read back as a partner would: in scope, suppressed, checksummed, repeatable.

Every test works on a copy of the session's programme warehouse, so the export runs it records in
the ledger never reach the tests that read the shared one.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from connectors import clock
from connectors.base import BANGKOK
from delivery import exports
from flows.cli import app
from flows.config import Settings
from tests.support import copy_of

pytestmark = pytest.mark.flow

PARTNERS = yaml.safe_load(exports.PARTNERS_FILE.read_text(encoding="utf-8"))["partners"]
FILES = {
    "manifest.json",
    "README.txt",
    "kpi_values.csv",
    "kpi_values.parquet",
    "kpi_catalogue.csv",
    "kpi_catalogue.parquet",
}
BY_ROUTE = {"kpi_values_by_route.csv", "kpi_values_by_route.parquet"}
HEALTH = "Medical & Healthcare"
PHONE = re.compile(r"(?<![\w.])(?:\+66[ -]?|0)[2-9](?:[ -]?\d){7,8}(?!\w)")
THIRTEEN_DIGITS = re.compile(r"(?<!\d)\d(?:[ -]?\d){12}(?!\d)")


def run_export(settings: Settings, partners: list[str] | None = None) -> list[Path]:
    from flows.export import export

    return export(
        partners=partners, config=str(settings.config_path), data_dir=str(settings.data_dir)
    )


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def valid_thai_id(digits: str) -> bool:
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


@pytest.fixture(scope="module")
def exported(programme: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every partner exported once from a copy of the programme warehouse, by the flow."""
    settings = copy_of(programme, tmp_path_factory.mktemp("exports"))
    folders = run_export(settings)
    return {"settings": settings, "folders": {f.parent.name: f for f in folders}}


def test_every_partner_gets_a_day_folder_matching_its_manifest(exported: dict[str, Any]) -> None:
    settings, folders = exported["settings"], exported["folders"]
    assert set(folders) == set(PARTNERS)
    [(run_id, invocation_id)] = query(
        settings, "select distinct run_id, dbt_invocation_id from marts.fct_kpi_values"
    )
    [(flow_name, finished_at, as_of)] = query(
        settings, "select flow_name, finished_at, as_of from audit.runs where run_id = ?", [run_id]
    )
    assert flow_name == "transform"  # the KPI build, not the export or the clock, dates it
    assert as_of == clock.today()  # the day the build took as today
    run_date = as_of.isoformat()
    for partner, folder in folders.items():
        assert folder == settings.data_dir / "exports" / partner / run_date
        entry = PARTNERS[partner]  # TR03, on-time performance, is the per-route KPI
        per_route = entry["city_wide"] and (entry["kpis"] == "all" or "TR03" in entry["kpis"])
        assert {p.name for p in folder.iterdir()} == FILES | (BY_ROUTE if per_route else set())
        assert [p.name for p in folder.parent.iterdir()] == [run_date]  # no staging left over
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["partner"] == partner
        assert manifest["run_id"] == run_id and manifest["dbt_invocation_id"] == invocation_id
        assert manifest["generated_at"] == finished_at.isoformat()
        assert manifest["run_date"] == run_date
        assert {f["name"] for f in manifest["files"]} == {p.name for p in folder.iterdir()} - {
            "manifest.json",
            "README.txt",
        }
        for entry in manifest["files"]:
            path = folder / entry["name"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path
            names = [c["name"] for c in entry["columns"]]
            if entry["format"] == "parquet":
                table = pq.read_table(path)
                assert table.num_rows == entry["rows"], path
                assert [(f.name, str(f.type)) for f in table.schema] == [
                    (c["name"], c["type"]) for c in entry["columns"]
                ]
            else:
                frame = read_csv(path)
                assert len(frame) == entry["rows"], path
                assert list(frame.columns) == names
        [values] = [f for f in manifest["files"] if f["name"] == "kpi_values.csv"]
        assert values["rows"] > 0, partner
    # the programme's own export ran before this one, in the copied ledger
    [(status, datasets), *_] = query(
        settings,
        "select status, datasets from audit.runs where flow_name = 'export' "
        "order by started_at desc",
    )
    assert status == "completed" and datasets == [f"export.{p}" for p in PARTNERS]


def test_csv_starts_with_a_bom_keeps_thai_and_matches_the_parquet(
    exported: dict[str, Any],
) -> None:
    settings = exported["settings"]
    names_th = dict(query(settings, "select kpi_id, name_th from marts.dim_kpi"))
    towns_th = dict(query(settings, "select municipality_id, name_th from marts.municipalities"))
    for folder in exported["folders"].values():
        for table in ("kpi_values", "kpi_values_by_route", "kpi_catalogue"):
            if not (folder / f"{table}.csv").exists():
                continue
            raw = (folder / f"{table}.csv").read_bytes()
            assert raw.startswith(b"\xef\xbb\xbfkpi_id,"), folder
            frame = read_csv(folder / f"{table}.csv")
            parquet = pq.read_table(folder / f"{table}.parquet").to_pandas()
            assert list(frame["kpi_id"]) == list(parquet["kpi_id"])
            thai = frame["name_th" if table == "kpi_catalogue" else "kpi_name_th"]
            assert list(thai) == [names_th[k] for k in frame["kpi_id"]]
            assert all(re.search("[ก-๛]", name) for name in thai)
        values = read_csv(folder / "kpi_values.csv")
        towns = values[values["municipality_id"] != ""]
        assert list(towns["municipality_name_th"]) == [
            towns_th[m] for m in towns["municipality_id"]
        ]
        dated = values["period_start"].str.fullmatch(r"\d{4}-\d{2}-\d{2}")
        assert dated.all() and values["period_end"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        numbers = values["value"][values["value"] != ""]
        assert numbers.str.fullmatch(r"-?\d+(\.\d+)?").all()  # a point, never a comma
        readme = (folder / "README.txt").read_text(encoding="utf-8-sig")
        for column in values.columns:
            assert f"- {column}: " in readme


def test_no_partner_file_holds_a_kpi_or_municipality_outside_its_scope(
    exported: dict[str, Any],
) -> None:
    rows = query(
        exported["settings"],
        "select kpi_id, municipality_id from marts.fct_kpi_values where route_id is null",
    )
    for partner, folder in exported["folders"].items():
        entry = PARTNERS[partner]
        kpis, towns = entry["kpis"], entry["municipalities"]

        def in_scope(kpi: str, town: str | None, kpis=kpis, towns=towns, entry=entry) -> bool:
            if kpis != "all" and kpi not in kpis:
                return False
            return entry["city_wide"] if town is None else towns == "all" or town in towns

        expected = sorted((k, m or "") for k, m in rows if in_scope(k, m))
        columns = ["kpi_id", "municipality_id"]
        from_csv = read_csv(folder / "kpi_values.csv")[columns].itertuples(index=False)
        from_parquet = pq.read_table(folder / "kpi_values.parquet", columns=columns).to_pylist()
        for name, found in (("csv", from_csv), ("parquet", (r.values() for r in from_parquet))):
            pairs = sorted((k, m or "") for k, m in found)
            assert pairs == expected, (partner, name)  # nothing outside, nothing missing
        catalogue = set(read_csv(folder / "kpi_catalogue.csv")["kpi_id"])
        by_route: set[str] = set()
        if (folder / "kpi_values_by_route.csv").exists():
            routes = read_csv(folder / "kpi_values_by_route.csv")
            assert (routes["route_id"] != "").all() and "municipality_id" not in routes.columns
            by_route = set(routes["kpi_id"])
            assert by_route and all(in_scope(k, None) for k in by_route), partner
        assert catalogue == {k for k, _ in expected} | by_route, partner


def test_no_cell_is_a_thai_national_id_or_phone_number(exported: dict[str, Any]) -> None:
    for folder in exported["folders"].values():
        for path in folder.glob("*.csv"):
            frame = read_csv(path)
            for column in frame.columns:
                assert not re.search("phone|national|citizen|person|patient|contact", column)
            for cell in frame.to_numpy().ravel():
                assert not PHONE.search(cell), (path, cell)
                for found in THIRTEEN_DIGITS.findall(cell):
                    assert not valid_thai_id(re.sub(r"\D", "", found)), (path, cell)


def test_no_health_count_below_five_is_written(exported: dict[str, Any]) -> None:
    checked = 0
    for folder in exported["folders"].values():
        values = read_csv(folder / "kpi_values.csv")
        health = values[values["focus_area"] == HEALTH]
        for row in health.itertuples(index=False):
            checked += 1
            if row.is_suppressed == "true":
                assert (row.value, row.numerator, row.denominator) == ("", "", "")
                assert row.status == "suppressed"
            else:
                assert row.is_suppressed == "false"
                for count in (row.numerator, row.denominator):
                    assert count == "" or float(count) >= 5, (folder, row)
    assert checked > 0


def test_small_health_counts_are_blanked_and_flagged(programme: Settings, tmp_path: Path) -> None:
    """Counts under 5 planted in the warehouse: health rows blanked, other areas untouched."""
    settings = copy_of(programme, tmp_path)
    with settings.warehouse.write() as con:
        [(he02_key,)] = con.execute(
            "select min(kpi_value_id) from marts.fct_kpi_values where kpi_id = 'HE02'"
        ).fetchall()
        [(mi02_key,)] = con.execute(
            "select min(kpi_value_id) from marts.fct_kpi_values where kpi_id = 'MI02'"
        ).fetchall()
        con.execute(
            "update marts.fct_kpi_values set numerator = 3, value = 0.4 where kpi_value_id = ?",
            [he02_key],
        )
        con.execute(
            "update marts.fct_kpi_values set numerator = 2 where kpi_value_id = ?", [mi02_key]
        )
        con.execute(
            "update marts.fct_kpi_values set denominator = 4 "
            "where kpi_id = 'HE03' and period_start = (select min(period_start) "
            "from marts.fct_kpi_values where kpi_id = 'HE03')"
        )
        [(he02,)] = con.execute(
            "select strftime(period_start, '%Y-%m') || municipality_id "
            "from marts.fct_kpi_values where kpi_value_id = ?",
            [he02_key],
        ).fetchall()
        # the data may hold small counts of its own (a month one day old): they count too
        small = con.execute(
            "select count(*) from marts.fct_kpi_values where kpi_id like 'HE%' "
            "and (numerator < 5 or denominator < 5)"
        ).fetchone()[0]
    partners = exports.load_partners()
    health = exports.export_partner(
        settings.warehouse, partners["provincial_health_office"], settings.data_dir / "exports"
    )
    values = read_csv(health / "kpi_values.csv")
    suppressed = values[values["is_suppressed"] == "true"]
    assert len(suppressed) == small and {"HE02", "HE03"} <= set(suppressed["kpi_id"])
    planted = suppressed[suppressed["kpi_id"] == "HE02"]
    assert he02 in set(planted["period_start"].str[:7] + planted["municipality_id"])
    assert (suppressed[["value", "numerator", "denominator"]] == "").all().all()
    parquet = pq.read_table(health / "kpi_values.parquet").to_pandas()
    assert parquet["is_suppressed"].sum() == small
    blanked = parquet.loc[parquet["is_suppressed"], ["value", "numerator", "denominator"]]
    assert blanked.isna().all().all()
    manifest = json.loads((health / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["suppression"]["rows_suppressed"] == small
    mice = exports.export_partner(
        settings.warehouse, partners["convention_bureau"], settings.data_dir / "exports"
    )
    mice_values = read_csv(mice / "kpi_values.csv")
    assert (mice_values["is_suppressed"] == "false").all()
    assert "2" in set(mice_values[mice_values["kpi_id"] == "MI02"]["numerator"])


def test_a_kpi_build_missing_from_the_ledger_is_dated_by_the_newest_batch(
    programme: Settings, tmp_path: Path
) -> None:
    """dbt run by hand leaves no ledger row: the data it could see dates the export instead."""
    settings = copy_of(programme, tmp_path)
    with settings.warehouse.write() as con:
        con.execute("delete from audit.runs where flow_name = 'transform'")
        build = exports.kpi_build(con)
        [(newest,)] = con.execute("select max(received_at) from audit.batches").fetchall()
    assert (build.generated_at, build.generated_at_from) == (newest, "audit.batches")
    assert build.run_date == newest.astimezone(BANGKOK).date()


def test_rerunning_writes_byte_identical_files(exported: dict[str, Any]) -> None:
    before = {partner: digests(folder) for partner, folder in exported["folders"].items()}
    again = run_export(exported["settings"])
    assert {f.parent.name: digests(f) for f in again} == before
    for folder in again:
        assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_the_cli_exports_one_partner_and_refuses_an_unknown_one(
    exported: dict[str, Any],
) -> None:
    settings = exported["settings"]
    base = ["--config", str(settings.config_path), "--data-dir", str(settings.data_dir), "export"]
    runs_before = query(settings, "select count(*) from audit.runs")
    unknown = CliRunner().invoke(app, [*base, "--partner", "kkts", "--partner", "nobody"])
    assert unknown.exit_code == 1
    assert "unknown partner(s) nobody" in unknown.output and "kkts" in unknown.output
    assert query(settings, "select count(*) from audit.runs") == runs_before  # failed first
    assert not (settings.data_dir / "exports" / "nobody").exists()
    with pytest.raises(exports.PartnerError, match="unknown partner"):
        run_export(settings, ["nobody"])
    done = CliRunner().invoke(app, [*base, "--partner", "kkts"])
    assert done.exit_code == 0, done.output
    assert str(exported["folders"]["kkts"]) in done.output.splitlines()


def test_a_failure_while_writing_leaves_the_previous_export_in_place(
    exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, folder = exported["settings"], exported["folders"]["convention_bureau"]
    before = digests(folder)
    partner = exports.load_partners()["convention_bureau"]

    def disk_full(*args: Any) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports, "_readme", disk_full)  # after every data file is staged
    with pytest.raises(OSError, match="No space left"):
        exports.export_partner(settings.warehouse, partner, settings.data_dir / "exports")
    assert digests(folder) == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_the_day_folder_is_swapped_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    swaps: list[bool] = []
    real = exports._exchange

    def exchange_or_not(first: Path, second: Path) -> bool:
        swaps.append(real(first, second) if exchange else False)
        return swaps[-1]

    monkeypatch.setattr(exports, "_exchange", exchange_or_not)
    target, staged = tmp_path / "2026-11-27", tmp_path / ".2026-11-27.x.staging"
    target.mkdir()
    (target / "old.csv").write_text("old", encoding="utf-8")
    staged.mkdir()
    (staged / "new.csv").write_text("new", encoding="utf-8")
    exports.replace_folder(staged, target)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert [p.name for p in target.iterdir()] == ["new.csv"]
    assert swaps == [exchange]  # this machine's file system took the path under test


def test_partner_file_errors_are_clear(exported: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "partners.yml"
    path.write_text("partners:\n  bad:\n    kpis: TR01\n", encoding="utf-8")
    with pytest.raises(exports.PartnerError, match='kpis must be "all" or a list'):
        exports.load_partners(path)
    path.write_text("partners:\n  Bad Name:\n    kpis: all\n", encoding="utf-8")
    with pytest.raises(exports.PartnerError, match="a folder name"):
        exports.load_partners(path)
    settings = exported["settings"]
    typo = exports.Partner("typo", "Typo", "", ("TR01", "TR99"), ("sila",), True)
    with pytest.raises(exports.PartnerError, match="lists unknown kpis TR99"):
        exports.export_partner(settings.warehouse, typo, settings.data_dir / "exports")
    assert not (settings.data_dir / "exports" / "typo").exists()


def test_a_cell_that_looks_like_personal_data_stops_the_export() -> None:
    header = ["kpi_id", "route_id"]
    exports.refuse_personal_data("t", [header, ["TR03", "R-101"], ["TR03", "0.0812345678"]])
    for cell in (
        "call 081-234-5678",
        "043 123 456",
        "+66 81 234 5678",
        "1-1017-00230-70-8",
        "somchai@example.co.th",
    ):
        with pytest.raises(exports.PersonalDataError, match="route_id"):
            exports.refuse_personal_data("t", [header, ["TR03", cell]])


def test_csv_values_are_rounded_to_the_kpi_decimals_and_parquet_keeps_full_precision(
    exported: dict[str, Any],
) -> None:
    decimals = dict(query(exported["settings"], "select kpi_id, decimals from marts.dim_kpi"))
    rounded_somewhere = False
    for folder in exported["folders"].values():
        for table in ("kpi_values", "kpi_values_by_route"):
            if not (folder / f"{table}.csv").exists():
                continue
            frame = read_csv(folder / f"{table}.csv")
            parquet = pq.read_table(folder / f"{table}.parquet").to_pandas()
            for (kpi, text), full in zip(
                frame[["kpi_id", "value"]].itertuples(index=False), parquet["value"], strict=True
            ):
                if text == "":
                    assert pd.isna(full)
                    continue
                places = decimals[kpi]
                assert len(text.partition(".")[2]) == places, (kpi, text)
                assert float(text) == round(full, places), (kpi, text, full)
                rounded_somewhere |= float(text) != full
    assert rounded_somewhere  # shares and rates do have more digits than they are shown with


def test_period_labels_are_text_that_no_spreadsheet_turns_into_a_date(
    exported: dict[str, Any],
) -> None:
    label = re.compile(r"day \d{4}-\d{2}-\d{2}|month \d{4}-\d{2}|year \d{4}|FY \d{4} BE")
    for folder in exported["folders"].values():
        values = read_csv(folder / "kpi_values.csv")
        for grain, text, start in values[["period_grain", "period_label", "period_start"]].values:
            assert label.fullmatch(text), text
            assert text.split()[0] == {"fiscal_year": "FY"}.get(grain, grain)
            if grain != "fiscal_year":
                assert start.startswith(text.split()[1])


def test_incomplete_periods_say_so_and_are_not_judged(exported: dict[str, Any]) -> None:
    today = clock.today()
    seen_in_progress = False  # a fiscal year at least is running, whatever the day
    for folder in exported["folders"].values():
        values = read_csv(folder / "kpi_values.csv")
        for row in values.itertuples(index=False):
            complete = row.is_complete == "true"
            assert complete == (row.coverage_days == row.period_days), row
            if not complete:
                assert row.status in {"in_progress", "partial", "no_data", "suppressed"}, row
            if row.period_end >= today.isoformat():
                assert not complete and row.status in {"in_progress", "no_data", "suppressed"}
            seen_in_progress |= row.status == "in_progress"
        readme = (folder / "README.txt").read_text(encoding="utf-8-sig")
        assert "in_progress" in readme and "partial" in readme
    assert seen_in_progress


def test_readme_names_the_partners_municipalities_in_thai(exported: dict[str, Any]) -> None:
    towns_th = dict(
        query(exported["settings"], "select municipality_id, name_th from marts.municipalities")
    )
    for partner, folder in exported["folders"].items():
        readme = (folder / "README.txt").read_text(encoding="utf-8-sig")
        towns = PARTNERS[partner]["municipalities"]
        if isinstance(towns, list):
            for town in towns:
                assert f"{towns_th[town]} ({town})" in readme, partner
