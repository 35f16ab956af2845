"""The auditor's data-quality report: rendered in Chromium, it shows the figures of quality.json."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.browser import rendered_dom
from tests.support import write_config

pytestmark = pytest.mark.flow


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


def test_programme_report_shows_the_figures_of_quality_json(programme: Any) -> None:
    reports = programme.data_dir / "reports" / "quality"
    folders = sorted(p for p in reports.iterdir() if p.is_dir())
    assert folders, "programme_daily writes a report"
    for number, folder in enumerate(folders):
        assert_page_matches_json(folder, programme, f"quality-report-{number}.png")


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
