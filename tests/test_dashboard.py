"""The KPI dashboard: one self-contained page whose every figure is a value of fct_kpi_values."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from connectors import clock
from delivery.dashboard import (
    format_value,
    kpi_card,
    period_labels,
    status_of,
    write_dashboard,
)
from flows.quality import statuses
from tests.browser import ARTIFACTS, chrome_driver
from warehouse.db import Warehouse

HEADLINE_GRAINS = ("month", "day", "year", "fiscal_year")
SEED = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds" / "municipalities.csv"


# --- pure units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.8674948240165632, "share", "86.7%"),
        (1348165766.66, "THB", "฿1,348,165,767"),
        (88025.0, "boardings", "88,025"),
        (2.5500578703703702, "days", "2.55"),
        (21.64784434417464, "complaints per 10000 inhabitants", "21.6"),
        (1296.87, "MWh", "1,297"),
        (None, "share", "–"),
    ],
)
def test_values_are_formatted_by_unit(value, unit, shown):
    assert format_value(value, unit) == shown


def test_periods_are_labelled_in_english_and_thai_with_buddhist_era_years():
    assert period_labels("month", date(2026, 11, 1)) == {
        "en": "Nov 2026",
        "th": "พ.ย. 2569",
        "short": "Nov 2026",
    }
    assert period_labels("day", date(2026, 1, 5))["th"] == "5 ม.ค. 2569"
    fiscal = period_labels("fiscal_year", date(2026, 10, 1), 2570)
    assert fiscal["en"] == "FY 2570 BE (Oct 2026 – Sep 2027)"
    assert fiscal["th"] == "ปีงบประมาณ 2570"


def test_headlines_are_the_latest_complete_period_and_small_health_counts_are_suppressed():
    kpi = {
        "kpi_id": "HE02",
        "name_en": "Telemedicine consultations per 1000 inhabitants",
        "name_th": "-",
        "focus_area": "Medical & Healthcare",
        "smart_dimension": "Smart Living",
        "unit": "consultations per 1000 inhabitants",
        "direction": "higher",
        "target": 5.0,
        "grain": "municipality × month",
    }

    def row(municipality, month, numerator, denominator, covered):
        value = numerator / denominator * 1000
        complete = covered == 30
        return {
            "kpi_id": "HE02",
            "municipality_id": municipality,
            "route_id": None,
            "period_grain": "month",
            "period_start": date(2026, month, 1),
            "period_end": date(2026, month, 30),
            "fiscal_year_be": 2569,
            "value": value,
            "numerator": numerator,
            "denominator": denominator,
            "status": ("met" if value >= 5 else "not_met") if complete else "in_progress",
            "run_id": "r1",
            "coverage_days": covered,
            "period_days": 30,
            "is_complete": complete,
        }

    rows = [
        row("sila", 9, 4, 38000, 30),
        row("samran", 9, 250, 9000, 30),
        row("sila", 11, 300, 38000, 3),  # three days into November: not the headline
        row("samran", 11, 3, 9000, 3),
    ]
    card = kpi_card(kpi, rows, [], today=date(2026, 11, 4))
    sila, samran = card["headline"]["sila"], card["headline"]["samran"]
    assert sila["period_start"] == samran["period_start"] == "2026-09-01"
    assert (sila["value"], sila["status"], sila["is_suppressed"]) == (None, "suppressed", True)
    assert samran["value"] == pytest.approx(250 / 9000 * 1000) and samran["status"] == "met"
    assert samran["display"] == "27.8" and not samran["is_partial"]
    trend = card["trend"]["sila"]
    assert [p["period_start"] for p in (trend[0], trend[-1])] == ["2025-12-01", "2026-11-01"]
    assert [p["value"] is not None for p in trend[-3:]] == [False, False, True]  # Oct: no row
    november = trend[-1]
    assert november["status"] == "in_progress" and november["is_partial"]
    assert november["coverage"] == {"days": 3, "of": 30}
    assert card["trend"]["samran"][-1]["status"] == "suppressed"
    embedded = json.dumps(card, default=str)
    assert '"numerator"' not in embedded and "300" not in embedded  # no count reaches the page


# --- the page of the session's programme warehouse -----------------------------------------------


@pytest.fixture(scope="module")
def page(programme) -> Path:
    return write_dashboard(programme)


def query(settings, sql: str) -> list[dict]:
    with settings.warehouse.read() as con:
        result = con.execute(sql)
        columns = [c[0] for c in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


@pytest.fixture(scope="module")
def table(programme) -> list[dict]:
    """fct_kpi_values with the catalogue's unit, read here independently of the dashboard."""
    return query(
        programme,
        "select f.*, k.unit as kpi_unit, k.focus_area from marts.fct_kpi_values f "
        "join marts.dim_kpi k using (kpi_id)",
    )


@pytest.fixture(scope="module")
def catalogue(programme) -> list[dict]:
    return query(programme, "select kpi_id, unit, grain from marts.dim_kpi order by kpi_id")


@pytest.fixture(scope="module")
def municipality_ids() -> list[str]:
    """The seed's municipalities, in its order."""
    with SEED.open(encoding="utf-8") as seed:
        return [row["municipality_id"] for row in csv.DictReader(seed)]


def expected_headlines(table: list[dict], kpi: dict, municipality: str) -> dict[str, dict | None]:
    """What the card of ``kpi`` must show for ``municipality``, keyed by route (or ``""``).

    The finest grain the KPI has; per route, each route's latest day; otherwise the KPI's latest
    complete period (else the latest that has ended, else its latest), for the municipality when
    its grain has one.
    """
    rows = [r for r in table if r["kpi_id"] == kpi["kpi_id"]]
    grain = next(g for g in HEADLINE_GRAINS if any(r["period_grain"] == g for r in rows))
    rows = [r for r in rows if r["period_grain"] == grain]
    if "route" in kpi["grain"]:
        return {r["route_id"]: r for r in sorted(rows, key=lambda r: r["period_start"])}
    # a complete period, else one that has ended, else the one running
    complete = [r for r in rows if r["is_complete"]]
    ended = [r for r in rows if r["period_end"] < clock.today()]
    newest = max(r["period_start"] for r in complete or ended or rows)
    if "municipality" in kpi["grain"]:
        rows = [r for r in rows if r["municipality_id"] == municipality]
    found = [r for r in rows if r["period_start"] == newest]
    assert len(found) <= 1
    return {"": found[0] if found else None}


# every element showing a value of fct_kpi_values, read in one round trip
SNAPSHOT = """
return {
  values: Array.from(document.querySelectorAll('.kpi-value')).map(e => Object.assign(
    {card: e.closest('.card').dataset.kpi, text: e.innerText.trim()}, e.dataset)),
  missing: Array.from(document.querySelectorAll('.headline.missing')).map(
    e => e.closest('.card').dataset.kpi),
};
"""


def assert_shows(shown: dict, row: dict, unit: str) -> None:
    """The element names ``row`` in its data attributes and shows its value, formatted."""
    assert shown["kpi"] == shown["card"] == row["kpi_id"]
    assert shown["periodStart"] == row["period_start"].isoformat()
    assert shown["periodGrain"] == row["period_grain"]
    assert shown.get("municipality") == row["municipality_id"]
    assert shown.get("route") == row["route_id"]
    text = shown["text"]
    small = [c for c in (row["numerator"], row["denominator"]) if c is not None and c < 5]
    if row["focus_area"] == "Medical & Healthcare" and small:
        assert shown["value"] == "" and shown["suppressed"] == "true"
        assert text.startswith("suppressed")
        return
    if row["value"] is None:
        assert shown["value"] == ""
        assert text.startswith("no data")
        return
    assert float(shown["value"]) == row["value"]
    assert text == format_value(row["value"], unit)
    # and, independently of the formatter, the number read off the page is the value, rounded
    number = re.sub(r"[^\d.]", "", text)
    decimals = len(number.partition(".")[2])
    scale = 100 if unit == "share" else 1
    tolerance = 0.5 * 10**-decimals / scale
    assert abs(float(number) / scale - abs(row["value"])) <= tolerance + 1e-9, (text, row)


def check_cards(driver, table, catalogue, municipality: str) -> dict[str, str]:
    """Every KPI's card shows its table values for ``municipality``; returns the values shown."""
    snapshot = driver.execute_script(SNAPSHOT)
    values = snapshot["values"]
    headlines = {}
    for kpi in catalogue:
        expected = expected_headlines(table, kpi, municipality)
        own = [v for v in values if v["card"] == kpi["kpi_id"]]
        if "route" in kpi["grain"]:
            routes = {v["route"]: v for v in own if v["role"] == "route"}
            assert sorted(routes) == sorted(expected)
            for route, shown in routes.items():
                assert_shows(shown, expected[route], kpi["unit"])
            continue
        headline = [v for v in own if v["role"] == "headline"]
        if expected[""] is None:
            assert not headline
            assert kpi["kpi_id"] in snapshot["missing"]
            continue
        assert len(headline) == 1, kpi["kpi_id"]
        assert_shows(headline[0], expected[""], kpi["unit"])
        headlines[kpi["kpi_id"]] = headline[0]["value"]
    return headlines


@pytest.mark.flow
def test_dashboard_in_a_browser_shows_the_table_values_per_municipality(
    page, table, catalogue, municipality_ids, programme
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert len(municipality_ids) == 6
    municipal = {k["kpi_id"] for k in catalogue if "municipality" in k["grain"]}
    assert municipal == {"TR01", "TR02", "TR05", "HE02", "GV01"}
    ARTIFACTS.mkdir(exist_ok=True)
    with chrome_driver(window_size=(1400, 3600)) as driver:
        driver.get(page.resolve().as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        # nothing fetched: every byte of the page is in the file
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0

        select = Select(driver.find_element(By.ID, "municipality"))
        options = [o.get_attribute("value") for o in select.options]
        assert options == municipality_ids
        assert "เทศบาลนครขอนแก่น" in select.first_selected_option.text
        first, second = municipality_ids[0], municipality_ids[1]
        assert select.first_selected_option.get_attribute("value") == first
        before = check_cards(driver, table, catalogue, first)
        assert set(before) >= municipal - {"TR03"}
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))

        select.select_by_value(second)
        after = check_cards(driver, table, catalogue, second)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-second-municipality.png"))
        changed = {k for k in municipal if before.get(k) != after.get(k)}
        assert changed, "no per-municipality value changed with the filter"
        city_wide = set(before) - municipal
        assert {k: after[k] for k in city_wide} == {k: before[k] for k in city_wide}
        tags = driver.find_elements(By.CSS_SELECTOR, ".card .scope.city")
        city_kpis = [k for k in catalogue if not re.search("municipality|route", k["grain"])]
        assert len(tags) == len(city_kpis)  # every city-wide card says so
        assert all("city-wide" in tag.text and "ทั้งเมือง" in tag.text for tag in tags)

        # MI01 / MI02 headline their month and show the fiscal year beside it
        values = driver.execute_script(SNAPSHOT)["values"]
        for kpi_id in ("MI01", "MI02"):
            (fiscal,) = [v for v in values if v["card"] == kpi_id and v["role"] == "secondary"]
            rows = [
                r for r in table if r["kpi_id"] == kpi_id and r["period_grain"] == "fiscal_year"
            ]
            newest = max(rows, key=lambda r: r["period_start"])
            assert_shows(fiscal, newest, newest["kpi_unit"])

        # freshness per dataset, the KPIs' run id, and a working link to the quality report
        freshness = {
            row.get_attribute("data-dataset"): row.get_attribute("data-freshness")
            for row in driver.find_elements(By.CSS_SELECTOR, "#freshness tbody tr")
        }
        assert freshness == {s.dataset: s.freshness for s in statuses(programme)}
        newest_run = max(table, key=lambda r: r["period_end"])["run_id"]
        assert driver.find_element(By.ID, "run-id").text == newest_run
        link = driver.find_element(By.ID, "quality-report").get_attribute("href")
        assert Path(unquote(urlparse(link).path)).is_file()


# elements reaching past the right edge of the viewport (a sideways scroll)
OVERFLOWING = """
return Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(e => e.tagName + '.' + e.className);
"""


@pytest.mark.flow
def test_the_page_fits_a_390_px_phone_screen_without_sideways_scrolling(page):
    with chrome_driver(window_size=(390, 844)) as driver:
        # a phone's viewport: headless Chromium's window cannot be narrower than 500 px
        metrics = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.get(page.resolve().as_uri())
        assert driver.execute_script("return window.innerWidth") == 390
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        assert driver.execute_script(OVERFLOWING) == []
        cards = driver.execute_script("return document.querySelectorAll('.card').length")
        assert cards == 17
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-390px.png"))


@pytest.mark.flow
def test_the_page_is_self_contained_and_its_data_is_the_marts(page, programme, table):
    html = page.read_text(encoding="utf-8")
    for remote in ("src=", 'href="http', "@import", "url("):
        assert remote not in html
    embedded = re.search(r'id="dashboard-data">(.*?)</script>', html, re.S).group(1)
    assert '"numerator"' not in embedded and '"denominator"' not in embedded
    data = json.loads(embedded)
    quality = data["quality_report"]
    assert quality.startswith("../quality/") and (page.parent / quality).is_file()
    kpis = {k["kpi_id"]: k for k in data["kpis"]}
    assert set(kpis) == {r["kpi_id"] for r in table}
    assert [a["en"] for a in data["focus_areas"]] == [
        "Logistics & Transportation",
        "MICE City",
        "Medical & Healthcare",
        "Cross-cutting KPIs",
    ]
    # day-grain KPIs: each trend point is the month's sum(numerator) / sum(denominator)
    for kpi_id, key in (("TR03", "all"), ("TR04", "city")):
        points = kpis[kpi_id]["trend"][key]
        assert len(points) == 12
        for point in points:
            days = [
                r
                for r in table
                if r["kpi_id"] == kpi_id
                and r["period_start"].strftime("%Y-%m-01") == point["period_start"]
            ]
            if not days:
                assert point["value"] is None
                continue
            value = sum(r["numerator"] for r in days) / sum(r["denominator"] for r in days)
            assert point["value"] == pytest.approx(value)
            assert point["days"] == len({r["period_start"] for r in days})
    # month-grain trends are the table's own rows, 12 months ending with the latest (the month
    # in progress, drawn hollow), which may be after the headline's (the latest complete)
    tr01 = kpis["TR01"]["trend"]["sila"]
    assert len(tr01) == 12
    latest = max(r["period_start"] for r in table if r["kpi_id"] == "TR01")
    assert tr01[-1]["period_start"] == latest.isoformat()
    assert tr01[-1]["period_start"] >= kpis["TR01"]["headline"]["sila"]["period_start"]
    sila = {
        r["period_start"].isoformat(): r["value"]
        for r in table
        if r["kpi_id"] == "TR01" and r["municipality_id"] == "sila"
    }
    assert [p["value"] for p in tr01] == [sila.get(p["period_start"]) for p in tr01]


@pytest.mark.flow
def test_monthly_summaries_are_judged_by_the_tables_status_rule(programme, table):
    """status_of (used for day-grain summaries) agrees with fct_kpi_values on every row."""
    today = clock.today()
    for row in table:
        running = row["period_end"] >= today
        partial = not row["is_complete"] and not running
        found = status_of(row["value"], row["target"], row["direction"], running, partial)
        assert found == row["status"], row


@pytest.mark.flow
def test_smartcity_dashboard_writes_the_page(programme):
    from typer.testing import CliRunner

    from flows.cli import app

    page = programme.data_dir / "reports" / "dashboard" / "index.html"
    page.unlink(missing_ok=True)
    options = ["--config", str(programme.config_path), "--data-dir", str(programme.data_dir)]
    result = CliRunner().invoke(app, [*options, "dashboard"])
    assert result.exit_code == 0, result.output
    assert str(page) in result.output
    assert 'id="dashboard-data"' in page.read_text(encoding="utf-8")


def test_smartcity_dashboard_without_kpis_exits_1_saying_why(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    with Warehouse(tmp_path).write():
        pass
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "dashboard"])
    assert result.exit_code == 1
    assert "NoKpisError" in result.output and "smartcity run" in result.output
