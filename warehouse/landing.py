"""The immutable raw landing zone: every response as received, with a manifest row.

Layout: ``<data>/raw/<dataset>/<YYYY-MM-DD>/<batch_id>.<ext>`` (UTC date of receipt), and one
append-only ``<data>/raw/<dataset>/manifest.jsonl`` per dataset with
``dataset, batch_id, url, received_at, bytes, sha256, path``. Files are written once, atomically,
and made read-only; nothing here ever rewrites or deletes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import Page

MANIFEST = "manifest.jsonl"
_MANIFEST_LOCK = threading.Lock()


@dataclass(frozen=True)
class LandedBatch:
    """One landed response: what the manifest says about it (``path`` is relative to raw/)."""

    dataset: str
    batch_id: str
    url: str
    received_at: str
    bytes: int
    sha256: str
    path: str


def new_batch_id(received_at: datetime) -> str:
    """Sortable by receipt time, unique within a process and across processes."""
    return f"{received_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def land(raw_dir: Path, dataset: str, page: Page) -> LandedBatch:
    """Write ``page`` to the landing zone and append its manifest row."""
    batch_id = new_batch_id(page.received_at)
    relative = Path(dataset) / f"{page.received_at.astimezone(UTC):%Y-%m-%d}"
    relative = relative / f"{batch_id}.{page.extension}"
    target = raw_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(target.suffix + ".part")
    temporary.write_bytes(page.content)
    os.chmod(temporary, 0o444)
    os.replace(temporary, target)
    landed = LandedBatch(
        dataset=dataset,
        batch_id=batch_id,
        url=page.url,
        received_at=page.received_at.astimezone(UTC).isoformat(),
        bytes=len(page.content),
        sha256=hashlib.sha256(page.content).hexdigest(),
        path=relative.as_posix(),
    )
    with _MANIFEST_LOCK, (raw_dir / dataset / MANIFEST).open("a", encoding="utf-8") as manifest:
        manifest.write(json.dumps(asdict(landed), ensure_ascii=False) + "\n")
    return landed


def read_landed(raw_dir: Path, landed: LandedBatch) -> bytes:
    """The landed bytes, checked against the manifest's sha256."""
    content = (raw_dir / landed.path).read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != landed.sha256:
        raise ValueError(
            f"{landed.dataset}: raw file {landed.path} has sha256 {digest}, "
            f"manifest says {landed.sha256}: the landing zone was changed after receipt"
        )
    return content


def manifest_rows(raw_dir: Path, dataset: str) -> list[LandedBatch]:
    path = raw_dir / dataset / MANIFEST
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as manifest:
        return [LandedBatch(**json.loads(line)) for line in manifest if line.strip()]
