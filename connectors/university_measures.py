"""Khon Kaen University FHIR R4 ``MeasureReport`` search (``university.measures``; HE02, HE03).

Shapes taken (``parse`` and ``extract`` alike), each a FHIR R4 JSON document:

- a lone ``MeasureReport`` (``type`` individual, summary, subject-list or data-exchange), e.g. the
  answer of ``$evaluate-measure`` or a report received by hand: one row, numbered 1;
- a ``Bundle`` of type ``searchset`` (a search answer), ``collection``, ``transaction`` or
  ``batch`` (each entry with a ``request``; ``POST``/``PUT`` entries carry the reports), or
  ``document``/``message`` (the first entry a ``Composition``/``MessageHeader``, FHIR rules
  bdl-11/bdl-12). Each report is numbered by its entry's position in the Bundle.

Entries that are not reports of this table are skipped and counted in one log line per page:
resources of other types (an included ``Patient``, the ``Composition`` of a document, a
``search.mode = outcome`` ``OperationOutcome``), ``search.mode = include`` entries, and
transaction/batch entries whose request stores nothing (``GET``, ``HEAD``, ``DELETE``, ``PATCH``).
A malformed entry is a row reject naming the Bundle rule it breaks (no resource: bdl-5; no
``request`` in a transaction or batch: bdl-3), as is a MeasureReport that lacks an element R4
makes mandatory (``status``, ``type``, ``measure``, ``period``, each 1..1). A whole document the
standard does not allow here is a :class:`ParseError` of one line naming the rule and the fix: not
a JSON object with a ``resourceType``, a resource that is neither a MeasureReport nor a Bundle, a
Bundle without a known ``type``, or a Bundle type that carries no reports to load (``history``:
versions and deletions; ``transaction-response``/``batch-response``: outcomes of a write).

``extract`` searches ``GET <search_path>?_count=<page_size>&_sort=_lastUpdated`` plus
``_lastUpdated=gt<watermark>`` once a watermark is stored, then follows the Bundle's ``next`` links
(absolute URLs, whatever the Bundle type) until there is none. A server that answers the search
with a lone MeasureReport (no Bundle, so no ``next`` link) is asked again with
``_lastUpdated=gt<that report's meta.lastUpdated>`` until it answers no newer report (an empty
Bundle, a report already read or not newer than the one before): one report per page, in
``lastUpdated`` order; reports sharing one instant with such a server are read only once per
instant. Options: ``search_path`` (default ``/fhir/MeasureReport``), ``measure`` (a canonical URL,
to search one measure only).

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
A page that cannot be read as one of the shapes above is landed, then the run stops.

``parse`` flattens each MeasureReport of the page into ``university_measure_reports`` (key
``report_id``). Done here, once: ``measure`` is the canonical URL's last segment (without
``|version``); ``municipality_id`` comes from a ``Location/<id>`` subject with FHIR's ``-`` turned
back into ``_`` (``Location/khon-kaen-city`` -> ``khon_kaen_city``); ``period`` start and end are
local dates (a dateTime keeps its own calendar date); ``date`` and ``meta.lastUpdated`` become UTC
(a ``date`` given as a bare date is read as 00:00 Asia/Bangkok). Count measures carry their count
as ``numerator`` and ``initial_population`` (no denominator). Each row carries its entry number
in the Bundle under ``_row``. Which reports the KPIs may use (summary reports about one of the six
municipalities) is the suite's judgement, not the parser's.

Schema drift: an optional element every report carries whatever its measure (``_ESSENTIAL``) that
all reports of the page lack is logged and its columns are named in ``parsed.missing``; the rows
are typed with them null (a drifted ``id`` too, instead of rejecting each report for its missing
key), so the suite's ``expect_column_to_exist`` sets the page aside whole.

``check_kind`` refuses a received file that is not a JSON object (XML, a JSON array, a zip, HTML,
binary) before it is landed.

``FRESHNESS``: ``meta.lastUpdated`` (``last_updated``); pages come sorted by it, so the last page
of a run carries the newest publication.
"""

from __future__ import annotations

import logging
from collections import Counter
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
    WrongKindError,
    as_payload,
    content_start,
    describe_content,
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

TAKES = (
    f"{DATASET} takes FHIR R4 JSON: a MeasureReport, or a searchset, collection, transaction "
    "or batch Bundle of them"
)
# Elements FHIR R4 makes mandatory (1..1) in a MeasureReport: a report without one is rejected.
_REQUIRED = ("status", "type", "measure", "period")
# Optional elements every report carries whatever its measure, and the column each fills: if all
# reports of a page lack one, the source's schema has drifted.
_ESSENTIAL = {
    "report_id": "id",
    "subject_reference": "subject.reference",
    "period_start": "period.start",
    "period_end": "period.end",
    "numerator": "group[0].population[numerator].count",
    "measure_score": "group[0].measureScore.value",
    "last_updated": "meta.lastUpdated",
}
# Columns made from another column: missing with it.
_DERIVED = {"municipality_id": "subject_reference"}
_FAILED = {"error", "fatal"}
# Bundle types whose entries hold reports, and the first resource some of them must start with.
_CARRIERS = {
    "searchset": None,
    "collection": None,
    "transaction": None,
    "batch": None,
    "document": ("Composition", "bdl-11"),
    "message": ("MessageHeader", "bdl-12"),
}
_WRITES = {"transaction", "batch"}  # Bundle types whose every entry carries a request (bdl-3)
_NOT_REPORTS = {
    "history": (
        "a history Bundle lists versions and deletions of resources (FHIR R4 Bundle.type "
        "'history', entries with request and response, bdl-3/bdl-4), not the reports as they "
        "stand; search MeasureReport instead, or send the current reports as a collection Bundle"
    ),
    "transaction-response": (
        "a transaction-response Bundle holds the outcomes of a transaction (entry.response, FHIR "
        "R4 bdl-4), not reports to load; send the transaction Bundle itself, or search "
        "MeasureReport"
    ),
    "batch-response": (
        "a batch-response Bundle holds the outcomes of a batch (entry.response, FHIR R4 bdl-4), "
        "not reports to load; send the batch Bundle itself, or search MeasureReport"
    ),
}
_STORES = {"POST", "PUT"}  # request methods of a transaction/batch entry that carry a report
_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}


def check_kind(content: bytes) -> None:
    """Refuse a received file that is not a JSON object (FHIR JSON) before it is landed."""
    start = content_start(content)
    if start.startswith(b"{"):
        return
    if start.startswith(b"<") and b"http://hl7.org/fhir" in start:
        what = "FHIR XML"
    elif start.startswith(b"["):
        what = "a JSON array"
    else:
        what = describe_content(content)
    raise WrongKindError(f"is {what}, not a FHIR JSON resource; {TAKES}")


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    """Search reports updated after ``watermark`` (all when ``None``), one Page per response."""
    query: dict[str, Any] = {"_count": source.page_size, "_sort": "_lastUpdated"}
    if source.options.get("measure"):
        query["measure"] = source.options["measure"]
    search_path = source.options.get("search_path", SEARCH_PATH)
    params: dict[str, Any] | None = (
        {**query, "_lastUpdated": f"gt{watermark}"} if watermark else dict(query)
    )
    url: str | None = search_path
    # ``settled``: every report updated up to it is loaded once the pages so far are.
    try:
        asked = settled = newest = _stamp(watermark) if watermark else None
    except ValueError:
        raise SourceError(f"{DATASET}: stored watermark {watermark!r} is not an instant") from None
    previous: tuple[datetime, str] | None = None
    in_order = True
    visited: set[str] = set()
    lone_ids: set[Any] = set()
    while url:
        page = fetch(client, source, url, params=params, extension="json")
        params = None  # a next link carries the whole query
        visited.add(page.url)
        try:
            document = _document(page.content)
        except ValueError as error:
            # Land the bytes (parse will reject them), then stop: the paging is lost.
            yield replace(page, watermark_after=_text(settled))
            raise SourceError(
                f"{DATASET}: cannot follow paging after {page.url}: {error}"
            ) from None
        _raise_on_outcome(document, page.url)
        stamps = _instants(document)
        for stamp in stamps:
            in_order = in_order and (previous is None or previous[0] <= stamp[0])
            previous = stamp
            newest = _later(newest, stamp)
        lone = document.get("resourceType") == "MeasureReport"
        url = _next_link(document)
        if lone:
            # A bare report has no next link: ask for what was updated after it, while that moves.
            url = None
            if stamps and _after(stamps[0], asked) and document.get("id") not in lone_ids:
                lone_ids.add(document.get("id"))
                asked = stamps[0]
                url, params = search_path, {**query, "_lastUpdated": f"gt{stamps[0][1]}"}
        if url is None or (lone and in_order):
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
    """One page (a MeasureReport or a Bundle) -> typed report rows; bad reports become rejects."""
    try:
        document = _document(content)
    except ValueError as error:
        raise ParseError(f"{DATASET}: {error}") from None
    if document.get("resourceType") == "OperationOutcome":
        raise ParseError(
            f"{DATASET}: the source answered an OperationOutcome, not reports: "
            f"{_issue_text(document)}; fix what it reports and fetch again"
        )
    parsed = Parsed(rows={REPORTS.name: []})
    # each report as (resource as received, its flattened row)
    reports: list[tuple[int, tuple[dict[str, Any], dict[str, Any]]]] = []
    skipped: Counter[str] = Counter()
    for number, entry, resource in _entries(document):
        try:
            skip = _not_a_report(document, entry, resource)
        except RowError as error:  # the entry breaks a Bundle rule: keep the entry as received
            received = as_payload(resource if entry is None else entry)
            parsed.rejects.append(Reject(REPORTS.name, number, received, str(error)))
            continue
        if skip:
            skipped[skip] += 1
            continue
        try:
            _require(resource)
            reports.append((number, (resource, _flatten(resource))))
        except RowError as error:
            parsed.rejects.append(Reject(REPORTS.name, number, as_payload(resource), str(error)))
        except (AttributeError, TypeError, IndexError) as error:  # a shape FHIR does not allow
            reason = f"malformed MeasureReport structure: {error}"
            parsed.rejects.append(Reject(REPORTS.name, number, as_payload(resource), reason))
    if skipped:
        log.info(
            "%s: skipped %s of the %s Bundle: not rows of %s",
            DATASET,
            ", ".join(f"{count} {what}" for what, count in sorted(skipped.items())),
            document.get("type"),
            REPORTS.name,
        )
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


# --- the document -----------------------------------------------------------------------------


def _document(content: bytes) -> dict[str, Any]:
    """The page as a MeasureReport, a Bundle that carries reports or an OperationOutcome;
    ValueError says in one line which rule the document breaks and what to send instead."""
    try:
        document = read_json(content, DATASET)
    except ParseError as error:
        raise ValueError(str(error).removeprefix(f"{DATASET}: ")) from None
    if not isinstance(document, dict):
        kind = {list: "array", str: "string"}.get(type(document), type(document).__name__)
        raise ValueError(
            f"the body is a JSON {kind}, not a FHIR resource (FHIR R4 JSON representation: a "
            f"resource is a JSON object with a resourceType); {TAKES}"
        )
    kind = document.get("resourceType")
    if kind == "Bundle":
        _check_bundle(document)
    elif kind is None:
        raise ValueError(
            "the JSON object has no resourceType, so it is not a FHIR resource (FHIR R4 JSON "
            f"representation); {TAKES}"
        )
    elif kind not in {"MeasureReport", "OperationOutcome"}:
        raise ValueError(f"a {kind} is neither a MeasureReport nor a Bundle; {TAKES}")
    return document


def _check_bundle(bundle: dict[str, Any]) -> None:
    """ValueError unless the Bundle's type carries reports and its entries are an array."""
    kind = bundle.get("type")
    if kind in _NOT_REPORTS:
        raise ValueError(_NOT_REPORTS[kind])
    if kind not in _CARRIERS:
        found = "the Bundle has no type" if kind is None else f"Bundle.type {kind!r} is unknown"
        raise ValueError(
            f"{found} (FHIR R4: Bundle.type is required, 1..1, a bundle-type code); set it to "
            "searchset, collection, transaction or batch"
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise ValueError(
            f"Bundle.entry is a JSON {type(entries).__name__}, not an array (FHIR R4 "
            "Bundle.entry, 0..*); list the entries in an array"
        )
    first = _CARRIERS[kind]
    if first:
        resource = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
        found = resource.get("resourceType") if isinstance(resource, dict) else None
        if found != first[0]:
            raise ValueError(
                f"a {kind} Bundle must start with a {first[0]} (FHIR R4 Bundle rule {first[1]}): "
                f"its first entry holds {found or 'none'}; put the {first[0]} first, or send the "
                "reports as a collection Bundle"
            )


def _issue_text(outcome: dict[str, Any]) -> str:
    texts = []
    for issue in outcome.get("issue") or []:
        text = (issue.get("details") or {}).get("text") or issue.get("diagnostics") or ""
        texts.append(f"{issue.get('severity')}/{issue.get('code')}: {text}".strip())
    return "; ".join(texts).replace("\n", " ") or "no issue given"


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


def _entries(document: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any] | None, Any]]:
    """(1-based number, entry, resource) per report candidate: a lone MeasureReport is entry 1
    (with no entry), a Bundle's entries come in order; a non-object entry comes as ``None``."""
    if document.get("resourceType") == "MeasureReport":
        yield 1, None, document
        return
    entries = document.get("entry") or []
    for number, entry in enumerate(entries if isinstance(entries, list) else [], start=1):
        if isinstance(entry, dict):
            yield number, entry, entry.get("resource")
        else:
            yield number, None, entry


def _not_a_report(document: dict[str, Any], entry: dict[str, Any] | None, resource: Any) -> str:
    """What the entry holds when it is no report of this table (to skip), else ``""``;
    RowError for an entry the Bundle rules do not allow."""
    if entry is None:
        if isinstance(resource, dict) and document.get("resourceType") == "MeasureReport":
            return ""
        raise RowError(
            f"entry holds no resource: it is a JSON {type(resource).__name__}, not an object "
            "(FHIR R4 Bundle.entry)"
        )
    search = entry.get("search")
    mode = search.get("mode") if isinstance(search, dict) else None
    if mode == "outcome":
        return "search outcome(s)"
    if mode == "include":
        return "included resource(s)"
    if document.get("type") in _WRITES:
        skip = _write_entry(entry, document["type"])
        if skip:
            return skip
    if not isinstance(resource, dict):
        raise RowError(
            "entry holds no resource (FHIR R4 Bundle rule bdl-5: an entry must hold a resource "
            "unless it has a request or response)"
        )
    kind = resource.get("resourceType")
    if kind != "MeasureReport":
        return str(kind) if kind else "resource(s) without a resourceType"
    return ""


def _write_entry(entry: dict[str, Any], bundle_type: str) -> str:
    """For a transaction/batch entry: ``""`` when it stores a resource, what it does otherwise."""
    request = entry.get("request")
    if not isinstance(request, dict):
        raise RowError(
            f"Bundle.entry.request is missing: FHIR R4 requires it in a {bundle_type} Bundle "
            "(rule bdl-3)"
        )
    method = str(request.get("method") or "").upper()
    if method not in _METHODS:
        raise RowError(
            f"Bundle.entry.request.method is {request.get('method')!r}: FHIR R4 requires one of "
            f"{', '.join(sorted(_METHODS))} (1..1)"
        )
    return "" if method in _STORES else f"{method} request(s)"


def _require(resource: dict[str, Any]) -> None:
    """RowError naming the first element R4 makes mandatory that the report lacks."""
    for element in _REQUIRED:
        if resource.get(element) in (None, "", {}, []):
            raise RowError(
                f"MeasureReport.{element} is missing: FHIR R4 requires it (cardinality 1..1)"
            )


def _next_link(document: dict[str, Any]) -> str | None:
    for link in document.get("link") or []:
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


def _after(stamp: tuple[datetime, str], bound: tuple[datetime, str] | None) -> bool:
    return bound is None or stamp[0] > bound[0]


def _text(stamp: tuple[datetime, str] | None) -> str | None:
    return stamp[1] if stamp else None


def _instants(document: dict[str, Any]) -> list[tuple[datetime, str]]:
    """``meta.lastUpdated`` of the page's reports, in page order, skipping unreadable ones."""
    stamps = []
    for _, _, resource in _entries(document):
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


def _flatten(resource: dict[str, Any]) -> dict[str, Any]:
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
