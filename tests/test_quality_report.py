"""The auditor's data-quality report: rendered in Chromium, it shows the figures of quality.json;
it is written once and kept, shows where each batch came from and every check that ran, masks
personal data; and the GX Data Docs it links to open offline."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from connectors import clock
from flows.cli import app
from tests.browser import rendered_dom
from tests.support import write_config


class Figures(HTMLParser):
    """Collects the text of every element that carries data-row and data-field."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[tuple[str, str], str] = {}
        self.links: dict[str, str] = {}
        self._open: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-row" in found and "data-field" in found:
            self._open = (found["data-row"] or "", found["data-field"] or "")
            self.figures[self._open] = ""
        if tag == "a" and found.get("id"):
            self.links[found["id"] or ""] = found.get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._open:
            self.figures[self._open] += data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def figures_of(page: Path, screenshot: str) -> tuple[Figures, str]:
    dom = rendered_dom(page, screenshot=screenshot)
    parser = Figures()
    parser.feed(dom)
    return parser, dom


@pytest.mark.flow
def test_programme_report_shows_the_figures_of_quality_json(programme: Any) -> None:
    reports = programme.data_dir / "reports" / "quality"
    folders = sorted(p for p in reports.iterdir() if p.is_dir())
    assert folders, "programme_daily writes a report"
    for number, folder in enumerate(folders):
        assert_page_matches_json(folder, programme, f"quality-report-{number}.png")


@pytest.mark.flow
def test_programme_run_publishes_the_quality_summary_as_an_artifact(programme: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["data-quality"]))
        )
    assert artifacts and all(a.type == "markdown" for a in artifacts)
    runs = {str(a.flow_run_id) for a in artifacts}
    folders = {p.name for p in (programme.data_dir / "reports" / "quality").iterdir()}
    assert folders <= runs, "every programme run's report is published by that run"
    assert "| city.sensors |" in artifacts[0].data and "Data quality, run" in artifacts[0].data


def assert_page_matches_json(folder: Path, programme: Any, screenshot: str) -> None:
    data = json.loads((folder / "quality.json").read_text(encoding="utf-8"))
    page, dom = figures_of(folder / "index.html", screenshot)
    assert data["run"]["flow_name"] == "programme_daily" and data["run"]["run_id"] in dom
    assert {d["dataset"] for d in data["datasets"]} == set(programme.sources)
    for dataset in data["datasets"]:
        name = dataset["dataset"]
        for field in ("batch_count", "rows_received", "rows_loaded", "rows_quarantined",
                      "checks", "passed", "failed_critical", "failed_warning"):  # fmt: skip
            assert page.figures[(name, field)] == f"{dataset[field]:,}", (name, field)
        assert page.figures[(name, "freshness")] == dataset["freshness"]
        for batch in dataset["batches"]:
            assert page.figures[(batch["batch_id"], "rows_loaded")] == f"{batch['rows_loaded']:,}"
    assert data["totals"]["checks"] > 0 and data["totals"]["failed_critical"] == 0
    assert page.figures[("all", "rows_received")] == f"{data['totals']['rows_received']:,}"
    docs = (folder / page.links["data-docs"]).resolve()
    assert docs.name == "index.html" and docs.exists()


@pytest.mark.flow
def test_report_lists_quarantined_rows_with_reasons_and_thai_examples(
    prefect_api: None, emulators: dict, tmp_path: Path
) -> None:
    from flows.ingest import ingest

    emulators["citizens"].faults.data["unknown_codes"] = 2
    config = write_config(tmp_path, emulators)
    data_dir = tmp_path / "data"
    ingest(datasets=["citizens.requests"], config=str(config), data_dir=str(data_dir))
    base = ["--config", str(config), "--data-dir", str(data_dir), "report", "quality"]
    no_programme = CliRunner().invoke(app, base)
    assert no_programme.exit_code == 1 and "smartcity run" in no_programme.output
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        [(run_id,)] = con.execute("select run_id from audit.runs").fetchall()
    result = CliRunner().invoke(app, [*base, "--run-id", run_id])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.split("report: ", 1)[1].splitlines()[0]).parent
    data = json.loads((folder / "quality.json").read_text(encoding="utf-8"))
    [citizens] = [d for d in data["datasets"] if d["dataset"] == "citizens.requests"]
    assert citizens["rows_quarantined"] > 0 and citizens["quarantine"]
    page, dom = figures_of(folder / "index.html", "quality-report-quarantine.png")
    assert page.figures[("citizens.requests", "rows_quarantined")] == (
        f"{citizens['rows_quarantined']:,}"
    )
    for group in citizens["quarantine"]:
        assert group["reason"] in dom
        for example in group["examples"]:
            assert example["payload"][:60] in dom  # Thai text of the request, as received
    assert any(
        "\u0e00" <= ch <= "\u0e7f" for ch in citizens["quarantine"][0]["examples"][0]["payload"]
    )


# --- small warehouses of hand-written Open311 requests ----------------------------------------

DATASET, TABLE = "citizens.requests", "citizens_service_requests"
PHONE, OTHER_PHONE, NATIONAL_ID = "081-234-5678", "0891234567", "1101700203450"
NAME = "นางสาววิไลวรรณ ศรีสุวรรณ"


def request(number: int, code: str = "101", description: str = "ถนนชำรุด", **fields: Any) -> dict:
    """One Open311 GeoReport v2 request as the channel sends it, filed yesterday morning."""
    filed = f"{clock.today() - timedelta(days=1)}T09:00:00+07:00"
    return {
        "service_request_id": f"KK-{number:04d}",
        "status": "open",
        "service_code": code,
        "service_name": "ถนนชำรุด",
        "description": description,
        "agency_responsible": "เทศบาลนครขอนแก่น",
        "requested_datetime": filed,
        "updated_datetime": filed,
        "lat": 16.43,
        "long": 102.83,
        **fields,
    }


def load(settings: Any, run_id: str, requests: list[dict], validate: Any = None) -> Any:
    from connectors import citizens_requests
    from connectors.base import Page
    from warehouse.ingest import ingest_page

    page = Page(
        url=f"http://open311.test/open311/v2/requests.json?run={run_id}",
        content=json.dumps(requests, ensure_ascii=False).encode(),
        extension="json",
        received_at=datetime.now(UTC),
    )
    return ingest_page(settings.warehouse, citizens_requests, DATASET, page, run_id, validate)


def start(settings: Any, run_id: str) -> None:
    from warehouse import audit

    audit.start_run(settings.warehouse, run_id, run_id, "ingest", [DATASET])


def finish(settings: Any, run_id: str, at: datetime | None = None) -> None:
    from warehouse import audit

    audit.finish_run(settings.warehouse, run_id)
    if at is not None:
        with settings.warehouse.write() as con:
            con.execute("update audit.runs set finished_at = ? where run_id = ?", [at, run_id])


def sql(settings: Any, query: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(query, params or []).fetchall()


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two runs through the real GX gate: one with rows set aside (personal data in them), one
    where every check passes; Data Docs built; each run's report written as it ends."""
    from expectations.gate import Gate
    from flows.config import load_settings
    from flows.quality import quality_report

    settings = load_settings(None, tmp_path_factory.mktemp("gated") / "data")
    gate = Gate(settings.data_dir / "reports" / "gx")
    start(settings, "run-issues")
    load(
        settings,
        "run-issues",
        [
            request(1, description=f"ไฟทางดับ แจ้งโดย นายสมชาย ใจดี โทร {PHONE}"),
            request(2, code="999", description=f"ผู้แจ้ง {NAME} เลขบัตรประชาชน {NATIONAL_ID}"),
            request(3, lat="n/a", description=f"น้ำท่วม ติดต่อกลับ {OTHER_PHONE}"),
        ],
        gate,
    )
    gate.build_docs()
    finish(settings, "run-issues")
    start(settings, "run-clean")
    load(settings, "run-clean", [request(4), request(5)], gate)
    gate.build_docs()
    finish(settings, "run-clean")
    reports = {run: quality_report(settings, run) for run in ("run-issues", "run-clean")}
    return settings, reports


def test_quarantined_rows_are_masked_in_the_report_and_kept_whole_in_quarantine(
    gated: Any,
) -> None:
    from warehouse.quality_report import markdown_summary

    settings, reports = gated
    folder, report = reports["run-issues"]
    [citizens] = [d for d in report["datasets"] if d["dataset"] == DATASET]
    assert citizens["rows_quarantined"] == 2
    payloads = [e["payload"] for q in citizens["quarantine"] for e in q["examples"]]
    assert len(payloads) == 2
    assert any("ผู้แจ้ง [name] เลขบัตรประชาชน [national-id]" in p for p in payloads)
    assert any("ติดต่อกลับ [phone]" in p for p in payloads)
    written = [
        (folder / "quality.json").read_text(encoding="utf-8"),
        (folder / "index.html").read_text(encoding="utf-8"),
        markdown_summary(report, folder),
    ]
    for text in written:
        for personal in (PHONE, OTHER_PHONE, NATIONAL_ID, NAME, "สมชาย"):
            assert personal not in text
    assert "[national-id]" in written[1] and "[phone]" in written[1]
    kept = [p for (p,) in sql(settings, "select payload from quarantine.rows order by row_number")]
    assert NAME in kept[0] and NATIONAL_ID in kept[0] and OTHER_PHONE in kept[1]


def test_each_batch_shows_its_source_url_raw_file_and_sha256(gated: Any) -> None:
    settings, reports = gated
    folder, _ = reports["run-issues"]
    page = (folder / "index.html").read_text(encoding="utf-8")
    parser = Figures()
    parser.feed(page)
    [(batch_id, url, raw_path, sha256)] = sql(
        settings,
        "select batch_id, url, raw_path, sha256 from audit.batches where run_id = 'run-issues'",
    )
    assert parser.figures[(batch_id, "url")] == url
    assert parser.figures[(batch_id, "raw_path")] == raw_path and raw_path.startswith("raw/")
    assert parser.figures[(batch_id, "sha256")] == sha256
    [href] = re.findall(rf"data-row='{batch_id}' data-field='raw_path'><a href='([^']+)'", page)
    raw_file = (folder / href).resolve()
    assert raw_file == (settings.data_dir / raw_path).resolve()
    assert hashlib.sha256(raw_file.read_bytes()).hexdigest() == sha256


def test_every_check_that_ran_is_listed_in_plain_words_also_when_all_pass(gated: Any) -> None:
    settings, reports = gated
    for run_id, (folder, report) in reports.items():
        [citizens] = [d for d in report["datasets"] if d["dataset"] == DATASET]
        ran = sql(
            settings,
            "select distinct table_name, expectation from audit.validations where run_id = ?",
            [run_id],
        )
        listed = {(c["table_name"], c["expectation"]): c for c in citizens["checks_run"]}
        assert set(listed) == set(ran) and len(ran) > 10
        for check in listed.values():
            assert check["description"] and "expect_" not in check["description"]
            assert check["severity"] in ("critical", "warning")
            assert check["batches_passed"] + check["batches_failed"] == 1
        page = Figures()
        page.feed((folder / "index.html").read_text(encoding="utf-8"))
        for (table, name), check in listed.items():
            row = f"{table}:{name}"
            assert page.figures[(row, "batches_passed")] == str(check["batches_passed"])
            assert page.figures[(row, "batches_failed")] == str(check["batches_failed"])
        not_null = listed[TABLE, "expect_column_values_to_not_be_null(service_request_id)"]
        assert not_null["description"] == "column service_request_id is never empty"
        codes = listed[TABLE, "expect_column_values_to_be_in_set(service_code)"]
        assert codes["notes"].startswith("The services the channel lists")
        assert codes["batches_failed"] == (1 if run_id == "run-issues" else 0)
    clean = reports["run-clean"][1]
    [citizens] = [d for d in clean["datasets"] if d["dataset"] == DATASET]
    assert citizens["failed_checks"] == [] and citizens["checks_run"]
    assert all(c["batches_failed"] == 0 for c in citizens["checks_run"])


def test_data_docs_load_no_asset_from_the_network_and_show_the_results(gated: Any) -> None:
    settings, reports = gated
    site = settings.data_dir / "reports" / "gx" / "data_docs"
    pages = sorted(site.rglob("*.html"))
    assert {p.relative_to(site).parts[0] for p in pages} == {
        "index.html",
        "validations",
        "expectations",
    }
    asset = re.compile(
        r"<(?:script|img)\b[^>]*\bsrc=[\"']([^\"']+)|<link\b[^>]*\bhref=[\"']([^\"']+)"
        r"|url\(\s*[\"']?([^\"')]+)",
        re.IGNORECASE,
    )
    for page in pages:
        references = [next(g for g in m.groups() if g) for m in asset.finditer(page.read_text())]
        assert references, page
        for reference in references:
            assert not re.match(r"(https?:)?//", reference), (page, reference)
            if not reference.startswith(("data:", "#")):
                assert (page.parent / reference.split("?")[0]).resolve().is_file(), reference
    folder, _ = reports["run-issues"]
    assert (folder / json.loads((folder / "quality.json").read_text())["data_docs"]).samefile(
        site / "index.html"
    )
    dom = rendered_dom(site / "index.html", screenshot="data-docs-offline.png")
    batches = [b for (b,) in sql(settings, "select batch_id from audit.batches")]
    rows = re.findall(r"<tr[^>]*data-href=\"(validations/[^\"]+)\"", dom)
    assert len(rows) == len(batches) and all((site / r).is_file() for r in rows)
    assert all(batch in dom for batch in batches)


# --- written once ------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    from flows.config import load_settings

    return load_settings(None, tmp_path / "data")


@pytest.fixture
def artifacts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The markdown artifacts published, without a Prefect API."""
    published: list[str] = []
    monkeypatch.setattr(
        "prefect.artifacts.create_markdown_artifact",
        lambda key, markdown, description: published.append(markdown),
    )
    return published


def test_a_report_is_written_when_the_run_ends_and_never_rewritten(
    settings: Any, artifacts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.quality import publish_quality_report, quality_report

    start(settings, "run-1")
    load(settings, "run-1", [request(1, description=f"โทร {PHONE}"), request(2, lat="n/a")])
    folder = publish_quality_report(settings, "run-1")
    finish(settings, "run-1")
    written = folder_bytes(folder)
    report = json.loads(written["quality.json"])
    assert report["final"] and report["datasets"][0]["dataset"]
    [citizens] = [d for d in report["datasets"] if d["dataset"] == DATASET]
    assert citizens["freshness"] == "fresh" and citizens["rows_quarantined"] == 1

    # later: more data in the warehouse for that run, another day on the calendar
    load(settings, "run-1", [request(3, requested_datetime=f"{clock.today()}T09:00:00+07:00")])
    monkeypatch.setenv("SMARTCITY_TODAY", "2027-03-01")
    again_folder, again = quality_report(settings, "run-1")
    assert again_folder == folder and again == report
    assert publish_quality_report(settings, "run-1") == folder
    assert folder_bytes(folder) == written
    (folder / "index.html").unlink()  # a lost page is rendered again from quality.json
    quality_report(settings, "run-1")
    assert folder_bytes(folder) == written
    assert len(artifacts) == 2 and artifacts[0] == artifacts[1]


def test_a_run_still_going_gets_a_provisional_report_replaced_when_it_ends(
    settings: Any, artifacts: list[str]
) -> None:
    from flows.quality import publish_quality_report, quality_report

    start(settings, "run-1")
    load(settings, "run-1", [request(1)])
    folder, early = quality_report(settings, "run-1")
    assert not early["final"] and "Provisional" in (folder / "index.html").read_text()
    load(settings, "run-1", [request(2)])
    publish_quality_report(settings, "run-1")
    _, final = quality_report(settings, "run-1")
    assert final["final"] and final["totals"]["batch_count"] == 2
    assert "Provisional" not in (folder / "index.html").read_text()


def test_an_old_run_without_a_kept_report_is_judged_as_at_its_end(settings: Any) -> None:
    from flows.quality import quality_report

    ended = datetime.now(UTC) - timedelta(days=10)  # the ledger's times are the wall clock's
    judged = ended + clock.offset()  # the suite's calendar, on which the complaints are filed
    newest = judged - timedelta(hours=2)
    start(settings, "old-run")
    load(settings, "old-run", [request(1, requested_datetime=newest.isoformat())])
    finish(settings, "old-run", at=ended)
    with settings.warehouse.write() as con:  # the batch came in before the run ended
        con.execute("update audit.batches set received_at = ?", [ended - timedelta(minutes=5)])
    start(settings, "later-run")  # a later run brought newer data: not known at the old run's end
    load(settings, "later-run", [request(2, requested_datetime=clock.now().isoformat())])
    finish(settings, "later-run")
    old_format = settings.data_dir / "reports" / "quality" / "old-run"
    old_format.mkdir(parents=True)  # a report written before reports were kept: regathered
    (old_format / "quality.json").write_text(json.dumps({"run": {}, "phone": PHONE}))

    folder, report = quality_report(settings, "old-run")

    [citizens] = [d for d in report["datasets"] if d["dataset"] == DATASET]
    assert datetime.fromisoformat(report["freshness_judged_at"]) == judged
    assert datetime.fromisoformat(citizens["newest_at"]) == newest
    assert citizens["freshness"] == "fresh"  # 2 hours old then, within the 36 h lag; stale now
    assert report["final"] and PHONE not in (folder / "quality.json").read_text()
    never = [d for d in report["datasets"] if d["dataset"] == "city.population"]
    assert never[0]["freshness"] == "never"
