"""Khon Kaen University FHIR R4 ``MeasureReport`` search (``university.measures``; HE02, HE03).

``extract`` searches ``GET <search_path>?_count=<page_size>&_sort=_lastUpdated`` plus
``_lastUpdated=gt<watermark>`` once a watermark is stored, then follows the Bundle's ``next`` links
(absolute URLs) until there is none. Options: ``search_path`` (default ``/fhir/MeasureReport``),
``measure`` (a canonical URL, to search one measure only).

Watermark: the newest ``meta.lastUpdated`` loaded, written as the server wrote it so that it goes
back into ``_lastUpdated=gt`` unchanged. The last page carries the newest instant seen in the run.
An earlier page carries the newest instant that cannot continue on the next page: reports sharing
one ``lastUpdated`` may be split across a page boundary, so a page's own newest instant is held
back until a later page shows it complete (the loader merges on the key, so a re-read costs
nothing). If the server ignored ``_sort`` (instants out of order), earlier pages keep the
incoming watermark and only the last page advances it. An empty result yields one empty page
that keeps the watermark.

An ``OperationOutcome`` with an ``error`` or ``fatal`` issue (instead of a Bundle, or as a Bundle
entry with ``search.mode = outcome``) raises :class:`SourceError` naming the issue text. A
``4xx`` answer is already a SourceError from :func:`fetch` (it quotes the start of the body).

``parse`` flattens each MeasureReport of the page into ``university_measure_reports`` (key
``report_id``). Done here, once: ``measure`` is the canonical URL's last segment (without
``|version``); ``municipality_id`` comes from a ``Location/<id>`` subject with FHIR's ``-`` turned
back into ``_`` (``Location/khon-kaen-city`` -> ``khon_kaen_city``); ``period`` start and end are
local dates (a dateTime keeps its own calendar date); ``date`` and ``meta.lastUpdated`` become UTC
(a ``date`` given as a bare date is read as 00:00 Asia/Bangkok). Count measures carry their count
as ``numerator`` and ``initial_population`` (no denominator). Each row carries its entry number
in the Bundle under ``_row``.

Schema drift: an element every report carries whatever its measure (``_ESSENTIAL``) that all
reports of the page lack is logged and its columns are named in ``parsed.missing``; the rows are
typed with them null (a drifted ``id`` too, instead of rejecting each report for its missing key),
so the suite's ``expect_column_to_exist`` sets the page aside whole.

``FRESHNESS``: ``meta.lastUpdated`` (``last_updated``); pages come sorted by it, so the last page
of a run carries the newest publication.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx

from connectors.base import (
    BANGKOK,
    Page,
    Parsed,
    ParseError,
    Reject,
    RowError,
    Source,
    SourceError,
    Table,
    as_payload,
    read_json,
)
from connectors.http import fetch

log = logging.getLogger(__name__)

DATASET = "university.measures"
SEARCH_PATH = "/fhir/MeasureReport"

REPORTS = Table(
    name="university_measure_reports",
    columns={
        "report_id": "VARCHAR",
        "version_id": "VARCHAR",
        "measure": "VARCHAR",
        "measure_url": "VARCHAR",
        "municipality_id": "VARCHAR",
        "subject_reference": "VARCHAR",
        "subject_display": "VARCHAR",
        "period_start": "DATE",
        "period_end": "DATE",
        "report_date": "TIMESTAMPTZ",
        "status": "VARCHAR",
        "report_type": "VARCHAR",
        "reporter": "VARCHAR",
        "numerator": "BIGINT",
        "denominator": "BIGINT",
        "initial_population": "BIGINT",
        "measure_score": "DOUBLE",
        "measure_score_unit": "VARCHAR",
        "last_updated": "TIMESTAMPTZ",
    },
    key=("report_id",),
)
TABLES = (REPORTS,)
FRESHNESS: tuple[str, str] | None = (REPORTS.name, "last_updated")

# Columns every report carries whatever its measure, and the FHIR element each comes from: if all
# reports of a page lack one, the source's schema has drifted.
_ESSENTIAL = {
    "report_id": "id",
    "measure_url": "measure",
    "subject_reference": "subject.reference",
    "report_type": "type",
    "period_start": "period.start",
    "period_end": "period.end",
    "status": "status",
    "numerator": "group[0].population[numerator].count",
    "measure_score": "group[0].measureScore.value",
    "last_updated": "meta.lastUpdated",
}
# Columns made from another column: missing with it.
_DERIVED = {"measure": "measure_url", "municipality_id": "subject_reference"}
_FAILED = {"error", "fatal"}


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    """Search reports updated after ``watermark`` (all when ``None``), one Page per Bundle."""
    params: dict[str, Any] = {"_count": source.page_size, "_sort": "_lastUpdated"}
    if watermark:
        params["_lastUpdated"] = f"gt{watermark}"
    if source.options.get("measure"):
        params["measure"] = source.options["measure"]
    url: str | None = source.options.get("search_path", SEARCH_PATH)
    # ``settled``: every report updated up to it is loaded once the pages so far are.
    try:
        settled = newest = _stamp(watermark) if watermark else None
    except ValueError:
        raise SourceError(f"{DATASET}: stored watermark {watermark!r} is not an instant") from None
    previous: tuple[datetime, str] | None = None
    in_order = True
    visited: set[str] = set()
    while url:
        page = fetch(client, source, url, params=params, extension="json")
        params = None  # a next link carries the whole query
        visited.add(page.url)
        try:
            bundle = _bundle(page.content)
        except ValueError as error:
            # Land the bytes (parse will reject them), then stop: the paging is lost.
            yield replace(page, watermark_after=_text(settled))
            raise SourceError(
                f"{DATASET}: cannot follow paging after {page.url}: {error}"
            ) from None
        _raise_on_outcome(bundle, page.url)
        stamps = _instants(bundle)
        for stamp in stamps:
            in_order = in_order and (previous is None or previous[0] <= stamp[0])
            previous = stamp
            newest = _later(newest, stamp)
        url = _next_link(bundle)
        if url is None:
            settled = newest
        elif stamps and in_order:
            # Reports sharing the page's last instant may go on on the next page.
            for stamp in stamps:
                if stamp[0] < stamps[-1][0]:
                    settled = _later(settled, stamp)
        yield replace(page, watermark_after=_text(settled))
        if url in visited:
            raise SourceError(f"{DATASET}: next link {url} repeats a page already read")


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """Every report published (``meta.lastUpdated``) since ``start`` at 00:00 Bangkok time.

    The search can only be bounded below (``_lastUpdated=gt``), so the read goes on past
    ``end`` to the newest report; what was already loaded is merged unchanged.
    """
    just_before = datetime.combine(start, time(), BANGKOK) - timedelta(microseconds=1)
    return source, just_before.isoformat()


def parse(content: bytes) -> Parsed:
    """One search Bundle -> typed report rows; entries that cannot be typed become rejects."""
    try:
        bundle = _bundle(content)
    except ValueError as error:
        raise ParseError(f"{DATASET}: {error}") from None
    if bundle.get("resourceType") == "OperationOutcome":
        raise ParseError(f"{DATASET}: an OperationOutcome, not a Bundle: {_issue_text(bundle)}")
    parsed = Parsed(rows={REPORTS.name: []})
    # each report as (resource as received, its flattened row)
    reports: list[tuple[int, tuple[dict[str, Any], dict[str, Any]]]] = []
    for number, mode, resource in _entries(bundle):
        if mode in {"outcome", "include"}:
            continue
        try:
            reports.append((number, (resource, _flatten(resource))))
        except RowError as error:
            parsed.rejects.append(Reject(REPORTS.name, number, as_payload(resource), str(error)))
        except (AttributeError, TypeError, IndexError) as error:  # a shape FHIR does not allow
            reason = f"malformed MeasureReport structure: {error}"
            parsed.rejects.append(Reject(REPORTS.name, number, as_payload(resource), reason))
    missing = _drifted([row for _, (_, row) in reports])
    if missing:
        parsed.missing[REPORTS.name] = missing
    REPORTS.collect(
        reports,
        parsed,
        convert=lambda report: report[1],
        payload=lambda report: as_payload(report[0]),
    )
    return parsed


# --- the Bundle -------------------------------------------------------------------------------


def _bundle(content: bytes) -> dict[str, Any]:
    """The JSON document of a search page; ValueError says why it is not a searchset Bundle."""
    try:
        document = read_json(content, DATASET)
    except ParseError as error:
        raise ValueError(str(error).removeprefix(f"{DATASET}: ")) from None
    if not isinstance(document, dict):
        raise ValueError(f"body is a JSON {type(document).__name__}, not a FHIR resource")
    kind = document.get("resourceType")
    if kind == "OperationOutcome":
        return document
    if kind != "Bundle" or document.get("type") != "searchset":
        raise ValueError(f"expected a searchset Bundle, got {kind} of type {document.get('type')}")
    return document


def _issue_text(outcome: dict[str, Any]) -> str:
    texts = []
    for issue in outcome.get("issue") or []:
        text = (issue.get("details") or {}).get("text") or issue.get("diagnostics") or ""
        texts.append(f"{issue.get('severity')}/{issue.get('code')}: {text}".strip())
    return "; ".join(texts) or "no issue given"


def _raise_on_outcome(document: dict[str, Any], url: str) -> None:
    """SourceError for an OperationOutcome that reports an error; warnings are logged."""
    if document.get("resourceType") == "OperationOutcome":
        raise SourceError(f"{DATASET}: {url} answered an OperationOutcome: {_issue_text(document)}")
    for _, _, resource in _entries(document):
        if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
            continue
        severities = {issue.get("severity") for issue in resource.get("issue") or []}
        if severities & _FAILED:
            raise SourceError(f"{DATASET}: {url} search failed: {_issue_text(resource)}")
        log.warning("%s: %s search outcome: %s", DATASET, url, _issue_text(resource))


def _entries(bundle: dict[str, Any]) -> Iterator[tuple[int, str | None, Any]]:
    """(1-based entry number, search mode, resource) for each entry, whatever its shape."""
    entries = bundle.get("entry") or []
    for number, entry in enumerate(entries if isinstance(entries, list) else [], start=1):
        if not isinstance(entry, dict):
            yield number, None, entry
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        yield number, mode, entry.get("resource", entry)


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _stamp(text: str) -> tuple[datetime, str]:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"instant {text!r} has no offset")
    return moment, text


def _later(
    current: tuple[datetime, str] | None, stamp: tuple[datetime, str]
) -> tuple[datetime, str]:
    return stamp if current is None or stamp[0] > current[0] else current


def _text(stamp: tuple[datetime, str] | None) -> str | None:
    return stamp[1] if stamp else None


def _instants(bundle: dict[str, Any]) -> list[tuple[datetime, str]]:
    """``meta.lastUpdated`` of the page's reports, in page order, skipping unreadable ones."""
    stamps = []
    for _, _, resource in _entries(bundle):
        if not isinstance(resource, dict) or resource.get("resourceType") != "MeasureReport":
            continue
        meta = resource.get("meta")
        text = meta.get("lastUpdated") if isinstance(meta, dict) else None
        try:
            stamps.append(_stamp(str(text)))
        except ValueError:
            continue  # parse rejects the report; it cannot move the watermark
    return stamps


# --- one report -------------------------------------------------------------------------------


def _flatten(resource: Any) -> dict[str, Any]:
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if kind != "MeasureReport":
        raise RowError(
            f"column 'report_id': entry holds {kind or 'no resource'}, not a MeasureReport"
        )
    groups = resource.get("group") or [{}]
    group = groups[0] if isinstance(groups, list) and isinstance(groups[0], dict) else {}
    counts = {}
    for population in group.get("population") or []:
        for coding in (population.get("code") or {}).get("coding") or []:
            counts.setdefault(coding.get("code"), population.get("count"))
    score = group.get("measureScore") or {}
    subject = resource.get("subject") or {}
    reporter = resource.get("reporter") or {}
    measure_url = resource.get("measure")
    period = resource.get("period") or {}
    return {
        "report_id": resource.get("id"),
        "version_id": (resource.get("meta") or {}).get("versionId"),
        "measure": _measure_id(measure_url),
        "measure_url": measure_url,
        "municipality_id": _municipality_id(subject.get("reference")),
        "subject_reference": subject.get("reference"),
        "subject_display": subject.get("display"),
        "period_start": _local_date(period.get("start")),
        "period_end": _local_date(period.get("end")),
        "report_date": _date_time(resource.get("date")),
        "status": resource.get("status"),
        "report_type": resource.get("type"),
        "reporter": reporter.get("display") or reporter.get("reference"),
        "numerator": counts.get("numerator"),
        "denominator": counts.get("denominator"),
        "initial_population": counts.get("initial-population"),
        "measure_score": score.get("value"),
        "measure_score_unit": score.get("unit") or score.get("code"),
        "last_updated": (resource.get("meta") or {}).get("lastUpdated"),
    }


def _measure_id(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    return url.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _municipality_id(reference: Any) -> str | None:
    if not isinstance(reference, str):
        return None
    parts = reference.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != "Location":
        return None
    return parts[-1].replace("-", "_")


def _local_date(value: Any) -> Any:
    """A FHIR date or dateTime as the calendar date it names; anything else as received."""
    if isinstance(value, str) and "T" in value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            return value
    return value


def _date_time(value: Any) -> Any:
    """A FHIR dateTime; a bare date (date precision) is read as 00:00 in Khon Kaen."""
    if isinstance(value, str) and len(value) == 10 and "T" not in value:
        try:
            return datetime.fromisoformat(value).replace(tzinfo=BANGKOK)
        except ValueError:
            return value
    return value


def _drifted(rows: list[dict[str, Any]]) -> set[str]:
    """The essential columns that no report of the page carries (schema drift)."""
    if not rows:
        return set()
    missing = {column for column in _ESSENTIAL if all(row.get(column) is None for row in rows)}
    for column in sorted(missing):
        log.warning(
            "%s: element %s (%s) is absent from all %d MeasureReports of the page: schema drift",
            DATASET,
            _ESSENTIAL[column],
            column,
            len(rows),
        )
    return missing | {column for column, source in _DERIVED.items() if source in missing}
