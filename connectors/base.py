"""The contract every connector module fulfils.

A connector module (one per dataset) exposes:

- ``DATASET``: the dataset name, e.g. ``"city.population"``;
- ``TABLES``: the raw tables it fills, as :class:`Table` specs;
- ``extract(client, source, watermark) -> Iterator[Page]``: fetch what is new since ``watermark``,
  one :class:`Page` per HTTP response, exactly as received;
- ``parse(content: bytes) -> Parsed``: turn one page into typed rows and rejects;
- optionally ``SNAPSHOT = True`` when every response is the whole dataset (a GTFS feed, a full
  export): loading it then replaces the tables' contents instead of merging on the key, so rows
  the source dropped do not linger.

Connectors know nothing of Prefect, Great Expectations, dbt or the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from connectors.clock import BANGKOK as BANGKOK  # re-exported: every source's local zone

BE_OFFSET = 543  # Buddhist-era year = CE year + 543


class SourceError(Exception):
    """A source could not be read (after retries): names the dataset and URL."""


class UnreachableError(SourceError):
    """No connection to the source (refused, unknown host): not worth retrying within a run."""


class NotFoundError(SourceError):
    """The source answered 404: the resource does not exist (or not yet)."""


class ParseError(Exception):
    """A whole response cannot be parsed (truncated body, missing file or column)."""


class WrongKindError(ParseError):
    """A received file is not the kind of document the dataset takes: refused before landing.

    The message is one line: what the file is, and what the dataset takes instead.
    """


class RowError(ValueError):
    """One row cannot be typed; the message is the quarantine reason."""


@dataclass(frozen=True)
class Source:
    """Where and how to read one dataset; built from the configuration file."""

    dataset: str
    url: str
    page_size: int = 1000
    timeout_seconds: float = 30.0
    max_retries: int = 4
    backoff_seconds: float = 1.0
    max_retry_after_seconds: float = 120.0
    lag_hours: float = 48.0
    schedule: str = "0 6 * * *"
    token: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One HTTP response as received, and the watermark that holds once it is loaded."""

    url: str
    content: bytes
    extension: str
    received_at: datetime
    watermark_after: str | None = None


@dataclass(frozen=True)
class Reject:
    """A row set aside: where it was, what it said, and why."""

    table: str
    row_number: int
    payload: str
    reason: str


ROW = "_row"  # key of a typed row holding its 1-based position in the response


@dataclass
class Parsed:
    """Typed rows per raw table, the rows that could not be typed, and what the source left out.

    Every typed row carries its position in the response under :data:`ROW`, so a row that fails
    validation later is quarantined under the same number a parse reject would have.
    ``missing`` names, per table, the columns whose source field was absent from every record
    (schema drift): validation, not the parser, decides whether that sinks the batch.
    ``version`` identifies the content for change detection (GTFS-RT: the header timestamp);
    when ``None`` the loader uses the page's sha256.
    """

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    missing: dict[str, set[str]] = field(default_factory=dict)
    version: str | None = None

    @property
    def received(self) -> int:
        return sum(len(r) for r in self.rows.values()) + len(self.rejects)


@dataclass(frozen=True)
class Table:
    """A raw table: its columns with DuckDB types, in order, and its natural key.

    ``filled_by`` gives, for a column a newer connector version added, the SQL expression over
    the stored columns that fills it in a warehouse made before (a new key column must not be
    left null, or the next merge would duplicate every stored row).
    """

    name: str
    columns: Mapping[str, str]
    key: tuple[str, ...]
    filled_by: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns.values()) - set(_CASTS))
        if unknown:
            raise TypeError(f"{self.name}: unsupported column type(s) {', '.join(unknown)}")

    def typed(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Cast a record to this table's types, or raise :class:`RowError` naming the column."""
        row = {}
        for column, type_ in self.columns.items():
            value = record.get(column)
            try:
                row[column] = _cast(value, type_)
            except (TypeError, ValueError) as error:
                raise RowError(f"column {column!r}: {error}") from None
            if row[column] is None and column in self.key:
                raise RowError(f"column {column!r}: key is missing")
        return row

    def collect(
        self,
        records: Iterable[tuple[int, Any]],
        parsed: Parsed,
        convert: Callable[[Any], Mapping[str, Any]] | None = None,
        payload: Callable[[Any], str] | None = None,
    ) -> None:
        """Type numbered records into ``parsed``: good rows to ``rows``, bad ones to ``rejects``.

        Each record comes as ``(row_number, record)``. ``convert`` maps a source record to this
        table's columns first (e.g. Buddhist-era dates); it raises :class:`RowError` naming the
        column it cannot convert. ``payload`` gives a rejected record as received (default:
        :func:`as_payload`); only rejects need it. Set ``parsed.missing[table]`` before
        collecting when the source dropped columns.
        """
        rows = parsed.rows.setdefault(self.name, [])
        missing = parsed.missing.get(self.name, set())
        # Columns the source left out are typed null, keys included: the checks, not the
        # parser, judge a batch that lost a column.
        table = replace(self, key=tuple(k for k in self.key if k not in missing))
        nulls = dict.fromkeys(missing)
        for row_number, record in records:
            try:
                if convert is None and not isinstance(record, Mapping):
                    raise RowError(f"row is a {type(record).__name__}, not an object")
                converted = convert(record) if convert else record
                row = table.typed({**converted, **nulls} if nulls else converted)
            except RowError as error:
                received = (payload or as_payload)(record)
                parsed.rejects.append(Reject(self.name, row_number, received, str(error)))
            else:
                row[ROW] = row_number
                rows.append(row)


def absent_columns(table: Table, records: Iterable[Any]) -> set[str]:
    """The table's columns that no object of the page carries (schema drift); none when the
    page has no object at all."""
    objects = [record for record in records if isinstance(record, Mapping)]
    return {c for c in table.columns if objects and all(c not in row for row in objects)}


def read_json(content: bytes, dataset: str) -> Any:
    """The JSON document in ``content``, or :class:`ParseError` saying where it breaks.

    Decoded as UTF-8 first (a BOM is allowed): ``json.loads`` on bytes would guess UTF-16/32.
    """
    try:
        return json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ParseError(f"{dataset}: response is not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise ParseError(
            f"{dataset}: response is not valid JSON at line {error.lineno} column {error.colno} "
            f"(char {error.pos} of {len(content)} bytes): {error.msg}"
        ) from None


def content_start(content: bytes) -> bytes:
    """The first bytes of ``content`` past a UTF-8 byte-order mark and white space."""
    return content[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()


def describe_content(content: bytes) -> str:
    """What a file looks like, for a one-line refusal: empty, a zip, HTML, or text starting ..."""
    start = content_start(content)
    if not start:
        return "empty" if not content else "only white space"
    if content.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if start[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    try:
        text = start[:40].decode("utf-8").splitlines()[0]
    except UnicodeDecodeError as error:
        # a multi-byte character cut at byte 40 is still text
        text = start[: error.start].decode("utf-8").splitlines()[0] if error.start > 36 else ""
    if not text or not text.isprintable():
        return f"binary data starting {start[:8].hex(' ')}"
    return f"text starting {text!r}"


def as_payload(record: Any) -> str:
    """The row as received, as text for the quarantine table."""
    if isinstance(record, str):
        return record
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)


def _cast(value: Any, type_: str) -> Any:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return _CASTS[type_](value)


def _varchar(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _bigint(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        value = value.strip().replace(",", "")
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _double(value: Any) -> float:
    if type(value) is float and value == value:
        return value
    if isinstance(value, str):
        value = value.strip().replace(",", "")
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    number = float(value)
    if number != number:  # NaN
        raise ValueError(f"expected a number, got {value!r}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _timestamptz(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else _parse_timestamp(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


_CASTS = {
    "VARCHAR": _varchar,
    "BIGINT": _bigint,
    "DOUBLE": _double,
    "BOOLEAN": _boolean,
    "DATE": _date,
    "TIMESTAMPTZ": _timestamptz,
}


def _parse_timestamp(text: str) -> datetime:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 timestamp, got {text!r}") from None
