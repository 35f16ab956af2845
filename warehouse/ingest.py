"""The path of one dataset: extract page by page, land each response, load it, move the watermark.

The watermark moves only after the page that carries it is loaded, so a run that stops halfway
resumes where it stopped, and a rerun fetches nothing twice that it has already loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import httpx

from connectors.base import Page, Source
from connectors.http import make_client
from warehouse.audit import get_watermark, set_watermark
from warehouse.db import Warehouse
from warehouse.landing import land
from warehouse.loader import BatchResult, load_batch


def ingest_source(
    warehouse: Warehouse,
    connector: ModuleType,
    source: Source,
    run_id: str | None,
    *,
    transport: httpx.BaseTransport | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Ingest everything new from ``source``; stops at a page that cannot be parsed."""
    watermark = get_watermark(warehouse, source.dataset)
    results = []
    with make_client(source, transport) as client:
        for page in connector.extract(client, source, watermark):
            result = ingest_page(warehouse, connector, source.dataset, page, run_id)
            results.append(result)
            if on_batch:
                on_batch(result)
            if result.status == "rejected":
                break  # the watermark stays before this page, so the next run tries it again
            if page.watermark_after is not None:
                set_watermark(warehouse, source.dataset, page.watermark_after, result.batch_id)
    return results


def ingest_file(
    warehouse: Warehouse, connector: ModuleType, dataset: str, path: Path, run_id: str | None
) -> BatchResult:
    """Ingest a file a steward received by hand, exactly as if it had been fetched."""
    page = Page(
        url=path.resolve().as_uri(),
        content=path.read_bytes(),
        extension=path.suffix.lstrip(".") or "bin",
        received_at=datetime.now(UTC),
    )
    return ingest_page(warehouse, connector, dataset, page, run_id)


def ingest_page(
    warehouse: Warehouse, connector: ModuleType, dataset: str, page: Page, run_id: str | None
) -> BatchResult:
    return load_batch(warehouse, connector, land(warehouse.raw_dir, dataset, page), run_id)
