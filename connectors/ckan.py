"""Reading a CKAN DataStore table through the Action API; shared by the ``city.*`` connectors.

``extract`` finds the table with ``package_show`` (the package's first resource with
``datastore_active``; ``options["resource_name"]`` picks another, ``options["resource_id"]`` skips
the look-up) and reads it with ``datastore_search`` in pages of ``source.page_size`` records,
``sort=_id``, by ``limit``/``offset``. Other options: ``package`` (each connector has a default),
``action_path`` (default ``/api/3/action``).

Watermark: the number of DataStore rows already read (the offset reached), as text. A page's
``watermark_after`` is its offset plus its records, rejected rows included (they were received).
DataStore tables grow by appending in ``_id`` order, so the next run asks for
``offset=<watermark>``; against an unchanged portal that is one page with no records. When the
table holds fewer rows than the watermark, the resource was reloaded (portals replace a table
when they re-upload its file, or drop an old year): the read starts again from offset 0, which is
harmless because rows are merged on their natural key. A table that was replaced by one at least
as long cannot be told apart from one that grew; a full reload (no watermark) covers that case.

``parse_datastore`` turns one ``datastore_search`` answer into typed rows: the envelope must say
``success: true`` and carry ``fields`` and ``records`` (else :class:`ParseError`: the response
cannot be read). Each record is converted by the connector's function and typed, keeping its
1-based position in ``records`` under ``_row``; a record that fails becomes a :class:`Reject`.
A source field the connector needs that the answer leaves out (not among ``fields``, or carried
by no record) is schema drift: the raw columns made from it are named in ``parsed.missing`` and
typed null in every row (a missing key column too), and the dataset's suite, which expects each
column to exist, sets the batch aside whole.

``check_kind`` refuses a file received by hand that is plainly not a CKAN Action API answer (a
zip, an HTML page, CSV, binary, a JSON list, a JSON object without CKAN's ``success`` member)
before it is landed; a JSON object that is cut short is let through, to be landed and rejected
by ``parse``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import httpx

from connectors.base import (
    BE_OFFSET,
    Page,
    Parsed,
    ParseError,
    RowError,
    Source,
    SourceError,
    Table,
    WrongKindError,
    content_start,
    describe_content,
    read_json,
)
from connectors.http import fetch

log = logging.getLogger(__name__)

ACTION_PATH = "/api/3/action"
_BE_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def extract(
    client: httpx.Client, source: Source, watermark: str | None, *, package: str
) -> Iterator[Page]:
    """Pages of ``datastore_search`` from the watermark's offset to the end of the table."""
    action = str(source.options.get("action_path", ACTION_PATH)).rstrip("/")
    resource_id = source.options.get("resource_id") or find_resource(
        client, source, str(source.options.get("package", package))
    )
    sort = str(source.options.get("sort", "_id"))
    limit = source.page_size
    offset = _offset(source, watermark)
    restarted = False
    while True:
        params = {"resource_id": resource_id, "limit": limit, "offset": offset, "sort": sort}
        page = fetch(client, source, f"{action}/datastore_search", params=params)
        try:
            result = _result(page.content, source.dataset)
            records = _list(result, "records", source.dataset)
        except ParseError as error:
            # Land it as received (parse will reject the batch) and keep the watermark where it was.
            log.warning("%s: cannot page on after %s: %s", source.dataset, page.url, error)
            yield dataclasses.replace(page, watermark_after=str(offset))
            return
        total = result.get("total")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        if not records and total is not None and total < offset and not restarted:
            log.warning(
                "%s: resource %s holds %d rows, fewer than the %d already read: "
                "it was reloaded, reading it again from the start",
                source.dataset,
                resource_id,
                total,
                offset,
            )
            offset, restarted = 0, True
            continue
        offset += len(records)
        yield dataclasses.replace(page, watermark_after=str(offset))
        if not records or (offset >= total if total is not None else len(records) < limit):
            return


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """The whole table again, from offset 0: ``datastore_search`` cannot be asked for dates.

    Rows already loaded come back unchanged and are left as they are; rows the portal changed
    or added since are loaded.
    """
    log.warning(
        "%s: the CKAN DataStore cannot be queried by date: the backfill of %s to %s re-reads "
        "the whole resource from offset 0",
        source.dataset,
        start,
        end,
    )
    return source, None


def check_kind(content: bytes, dataset: str) -> None:
    """Refuse (:class:`WrongKindError`, one line) a file that is not a CKAN Action API answer."""
    takes = (
        f"{dataset} takes a CKAN Action API answer (datastore_search, saved as received: "
        "a JSON object with 'success' and 'result')"
    )
    if not content_start(content).startswith(b"{"):
        raise WrongKindError(f"is {describe_content(content)}, not a JSON object; {takes}")
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # a JSON object cut short or badly encoded: landed, then rejected by parse
    if "success" not in document:
        members = ", ".join(repr(key)[:40] for key in list(document)[:5]) or "none"
        raise WrongKindError(
            f"is a JSON object without CKAN's 'success' member (members: {members}), "
            f"not a CKAN Action API answer; {takes}"
        )


def find_resource(client: httpx.Client, source: Source, package: str) -> str:
    """The id of the package's DataStore resource (``options["resource_name"]`` picks one)."""
    action = str(source.options.get("action_path", ACTION_PATH)).rstrip("/")
    page = fetch(client, source, f"{action}/package_show", params={"id": package})
    try:
        resources = _list(_result(page.content, source.dataset), "resources", source.dataset)
    except ParseError as error:
        raise SourceError(f"{source.dataset}: package_show {package!r}: {error}") from None
    wanted = source.options.get("resource_name")
    candidates = [
        r
        for r in resources
        if isinstance(r, dict)
        and r.get("datastore_active") is True
        and r.get("id")
        and (wanted is None or r.get("name") == wanted)
    ]
    if not candidates:
        which = f"named {wanted!r} " if wanted else ""
        raise SourceError(
            f"{source.dataset}: package {package!r} has no DataStore resource {which}"
            f"({len(resources)} resources)"
        )
    if len(candidates) > 1:
        log.warning(
            "%s: package %r has %d DataStore resources, reading %r; set resource_name to choose",
            source.dataset,
            package,
            len(candidates),
            candidates[0].get("name"),
        )
    return str(candidates[0]["id"])


def parse_datastore(
    content: bytes,
    dataset: str,
    table: Table,
    fields: Mapping[str, Sequence[str]],
    convert: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> Parsed:
    """Typed rows of one ``datastore_search`` answer.

    ``fields`` maps each source field the connector needs to the raw columns made from it;
    ``convert`` maps one source record to the table's columns and raises :class:`RowError`
    naming the column it cannot convert.
    """
    result = _result(content, dataset)
    declared = {f.get("id") for f in _list(result, "fields", dataset) if isinstance(f, dict)}
    records = _list(result, "records", dataset)
    objects = [record for record in records if isinstance(record, dict)]
    absent = [
        name
        for name in fields
        if name not in declared or (objects and not any(name in r for r in objects))
    ]
    parsed = Parsed(rows={table.name: []})
    if absent:
        missing = {column for name in absent for column in fields[name]}
        parsed.missing[table.name] = missing
        log.warning(
            "%s: field %s missing from the datastore_search answer (schema drift); fields are %s",
            dataset,
            ", ".join(repr(name) for name in absent),
            sorted(map(str, declared)),
        )

    def row(record: Any) -> dict[str, Any]:
        if not isinstance(record, Mapping):
            raise RowError(f"row is a {type(record).__name__}, not an object")
        return convert(record)

    table.collect(enumerate(records, 1), parsed, convert=row)
    return parsed


# Conversions that must happen exactly once, in parse. Each returns None for an empty value, so
# that typing reports a missing key, and raises RowError naming the column otherwise.


def be_year(value: Any, column: str) -> int | None:
    """A Buddhist-era year ("2568") as an integer, checked to be one."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}", text) or int(text) < 2400:
        raise RowError(
            f"column {column!r}: expected a Buddhist-era year like '2568', got {value!r}"
        )
    return int(text)


def be_date(value: Any, column: str) -> date | None:
    """A day written day/month/Buddhist-era year ("14/03/2568") as a CE date."""
    if value is None or str(value).strip() == "":
        return None
    match = _BE_DATE.fullmatch(str(value).strip())
    if match is None:
        raise RowError(f"column {column!r}: expected a date like '14/03/2568', got {value!r}")
    day, month, year = (int(part) for part in match.groups())
    if year < 2400:
        raise RowError(f"column {column!r}: year {year} is not a Buddhist-era year in {value!r}")
    try:
        return date(year - BE_OFFSET, month, day)
    except ValueError as error:
        raise RowError(f"column {column!r}: {error} in {value!r}") from None


def timestamp_date(value: Any, column: str) -> date | None:
    """The date of a DataStore timestamp with no zone ("2026-11-25T00:00:00"): a local date."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return datetime.fromisoformat(str(value).strip()).date()
    except ValueError:
        raise RowError(
            f"column {column!r}: expected a timestamp like '2026-11-25T00:00:00', got {value!r}"
        ) from None


def _offset(source: Source, watermark: str | None) -> int:
    if watermark is None or watermark == "":
        return 0
    try:
        offset = int(watermark)
    except ValueError:
        offset = -1
    if offset < 0:
        log.warning("%s: watermark %r is not an offset, reading from 0", source.dataset, watermark)
        return 0
    return offset


def _result(content: bytes, dataset: str) -> dict[str, Any]:
    """The ``result`` of a CKAN action answer, or :class:`ParseError` saying what is wrong."""
    envelope = read_json(content, dataset)
    if not isinstance(envelope, dict) or "success" not in envelope:
        raise ParseError(f"{dataset}: not a CKAN action response (no 'success' member)")
    if envelope["success"] is not True:
        raise ParseError(f"{dataset}: CKAN answered success=false: {envelope.get('error')!r}")
    result = envelope.get("result")
    if not isinstance(result, dict):
        raise ParseError(f"{dataset}: CKAN response has no 'result' object")
    return result


def _list(result: Mapping[str, Any], member: str, dataset: str) -> list[Any]:
    value = result.get(member)
    if not isinstance(value, list):
        raise ParseError(f"{dataset}: CKAN result has no {member!r} list")
    return value
