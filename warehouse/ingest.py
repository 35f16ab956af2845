"""The path of one dataset: extract page by page, land each response, load it, move the watermark.

The watermark moves only after the page that carries it is loaded, so a run that stops halfway
resumes where it stopped, and a rerun fetches nothing twice that it has already loaded. The last
page of a run carries the newest data, so it alone is asked to prove the dataset fresh.

A backfill re-reads a date range through the connector's ``backfill`` hook and leaves the
watermark alone: the regular runs resume where they were, and since loads merge on the key and
leave rows that come back unchanged untouched, re-reading a range already loaded changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import httpx

from connectors import clock
from connectors.base import Page, Source, WrongKindError
from connectors.http import make_client
from warehouse.audit import get_watermark, set_watermark
from warehouse.db import Warehouse
from warehouse.landing import land
from warehouse.loader import BatchResult, load_batch
from warehouse.validation import Validate


def ingest_source(
    warehouse: Warehouse,
    connector: ModuleType,
    source: Source,
    run_id: str | None,
    *,
    validate: Validate | None = None,
    transport: httpx.BaseTransport | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Ingest everything new from ``source``; stops at a page that is rejected."""
    watermark = get_watermark(warehouse, source.dataset)
    fresh_after = _fresh_after(source)
    results = []
    with make_client(source, transport) as client:
        for page, last in _with_last(connector.extract(client, source, watermark)):
            result = ingest_page(
                warehouse,
                connector,
                source.dataset,
                page,
                run_id,
                validate,
                fresh_after if last else None,
            )
            results.append(result)
            if on_batch:
                on_batch(result)
            if result.status == "rejected":
                break  # the watermark stays before this page, so the next run tries it again
            if page.watermark_after is not None:
                set_watermark(warehouse, source.dataset, page.watermark_after, result.batch_id)
    return results


Backfill = Callable[[Source, date, date], tuple[Source, str | None]]


class BackfillRefused(ValueError):
    """The dataset cannot be re-read by date (a snapshot, or a connector without the hook)."""


def backfill_hook(connector: ModuleType) -> Backfill:
    """The connector's ``backfill(source, start, end)``; :class:`BackfillRefused` if it has none.

    The hook returns the source to read (e.g. with its clock pinned to the day after ``end``)
    and the watermark to extract from, so that the connector's own ``extract`` reads the range.
    """
    hook = getattr(connector, "backfill", None)
    if hook is not None:
        return hook
    dataset = connector.DATASET
    if getattr(connector, "SNAPSHOT", False):
        raise BackfillRefused(
            f"{dataset} is a snapshot: every response is the whole dataset, not a date range, "
            f"so there is nothing to backfill; `smartcity ingest {dataset}` reloads it"
        )
    raise BackfillRefused(f"{dataset}: its connector cannot re-read a date range (no hook)")


def backfill_range(connector: ModuleType, start: str, end: str) -> tuple[date, date]:
    """The days ``start`` to ``end`` (ISO dates, Bangkok) if the dataset can be backfilled over
    them: refused for a snapshot, a range that ends before it starts, or one that ends after today.
    """
    backfill_hook(connector)
    first, last = clock.parse_day(start, "backfill start"), clock.parse_day(end, "backfill end")
    if first > last:
        raise ValueError(f"backfill from {first} to {last}: the first day is after the last")
    today = clock.today()
    if last > today:
        raise ValueError(f"backfill to {last}: that is after today ({today}, Bangkok)")
    return first, last


def backfill_source(
    warehouse: Warehouse,
    connector: ModuleType,
    source: Source,
    start: date,
    end: date,
    run_id: str | None,
    *,
    validate: Validate | None = None,
    transport: httpx.BaseTransport | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Re-extract the days ``start`` to ``end`` and load them; the watermark does not move.

    Freshness is not judged (old days are old by design). A rejected page does not stop the
    backfill, as there is no watermark to hold back: it is recorded, and a rerun retries it.
    """
    ranged, watermark = backfill_hook(connector)(source, start, end)
    results = []
    with make_client(ranged, transport) as client:
        for page in connector.extract(client, ranged, watermark):
            result = ingest_page(warehouse, connector, source.dataset, page, run_id, validate)
            results.append(result)
            if on_batch:
                on_batch(result)
    return results


def ingest_file(
    warehouse: Warehouse,
    connector: ModuleType,
    source: Source,
    path: Path,
    run_id: str | None,
    validate: Validate | None = None,
) -> BatchResult:
    """Ingest a file a steward received by hand, exactly as if it had been fetched; a file that
    is not the dataset's kind is refused before anything is landed."""
    page = Page(
        url=path.resolve().as_uri(),
        content=received_file(connector, path),
        extension=path.suffix.lstrip(".") or "bin",
        received_at=datetime.now(UTC),
    )
    return ingest_page(
        warehouse, connector, source.dataset, page, run_id, validate, _fresh_after(source)
    )


def received_file(connector: ModuleType, path: Path) -> bytes:
    """The bytes of a received file, checked to be the kind of document the dataset takes
    (the connector's ``check_kind``): :class:`WrongKindError` names the file otherwise."""
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        raise WrongKindError(f"{connector.DATASET}: cannot read {path}: {error.strerror}") from None
    try:
        connector.check_kind(content)
    except WrongKindError as error:
        raise WrongKindError(
            f"{connector.DATASET}: {path} refused, nothing landed: {error}"
        ) from None
    return content


def ingest_page(
    warehouse: Warehouse,
    connector: ModuleType,
    dataset: str,
    page: Page,
    run_id: str | None,
    validate: Validate | None = None,
    fresh_after: datetime | None = None,
) -> BatchResult:
    """Land one response as received, then load it (see :func:`warehouse.loader.load_batch`)."""
    return load_batch(
        warehouse, connector, land(warehouse.raw_dir, dataset, page), run_id, validate, fresh_after
    )


def _fresh_after(source: Source) -> datetime:
    """The time the dataset's newest record must be after to be fresh."""
    return clock.now() - timedelta(hours=source.lag_hours)


def _with_last(pages: Iterable[Page]) -> Iterator[tuple[Page, bool]]:
    """Each page with whether it is the last one; a page fetched before a failure still comes."""
    iterator = iter(pages)
    current = next(iterator, None)
    while current is not None:
        try:
            following = next(iterator, None)
        except Exception:
            yield current, True
            raise
        yield current, following is None
        current = following
