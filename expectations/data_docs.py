"""Data Docs that open offline: every page of the built site loads its styles and scripts from
the site itself.

Great Expectations' pages load Bootstrap, bootstrap-table, jQuery, Font Awesome and Vega from
CDNs, and its index builds the table of validation results in script, so without a network the
index is blank. After each build, :func:`make_offline` rewrites the pages GX just wrote: the
``<link>`` and ``<script>`` tags that reach a CDN go, the GX logo comes from the site's own
``static/images/``, and two small files of ours (``data_docs_assets/offline.css`` and
``offline.js``, copied to ``static/smartcity/``) lay the pages out and build the index table.
No third-party library code is copied. Links for a reader to follow (``<a href>``) stay.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "data_docs_assets"
SITE_ASSETS = Path("static") / "smartcity"
MARK = "<!-- smartcity: offline assets -->"
_CLOCK_SLACK = 1.0  # s: file times come from a coarser clock than time.time()

_REMOTE_TAG = re.compile(
    r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>\s*"
    r"|<link\b[^>]*\bhref=[\"']https?://[^>]*>\s*",
    re.IGNORECASE,
)
# GX's logo: the web-assets bucket (with tracking query) for the img and the dark-mode CSS
_REMOTE_IMAGE = re.compile(r"https?://great-expectations-web-assets\.[^\"')\s]*")
# GX's own static images, at whatever depth GX guessed (its favicon path is one level short)
_LOCAL_IMAGE = re.compile(r"(?<=[\"'])(?:\.\.?/)*static/images/(?=[\w.-]+[\"'])")


def make_offline(site: Path, since: float) -> list[Path]:
    """Copy our assets into ``site`` and rewrite its pages written at or after ``since`` (a
    ``time.time()``; every page when the site has not been made offline before) to use local
    assets only. The pages rewritten."""
    target = site / SITE_ASSETS
    if not target.exists():
        since = 0.0
    target.mkdir(parents=True, exist_ok=True)
    for asset in ASSETS.iterdir():
        shutil.copyfile(asset, target / asset.name)
    rewritten = []
    for page in site.rglob("*.html"):
        if page.stat().st_mtime < since - _CLOCK_SLACK:
            continue
        text = page.read_text(encoding="utf-8")
        if MARK not in text:
            page.write_text(offline_page(text, _relative(site, page.parent)), encoding="utf-8")
            rewritten.append(page)
    return rewritten


def offline_page(text: str, to_site: str) -> str:
    """``text`` (a page ``to_site`` from the site's root, e.g. ``../..``) with local assets."""
    static = f"{to_site}/static"
    text = _REMOTE_TAG.sub("", text)
    text = _REMOTE_IMAGE.sub(f"{static}/images/logo-long.png", text)
    text = _LOCAL_IMAGE.sub(f"{static}/images/", text)
    ours = (
        f"{MARK}\n"
        f'<link rel="stylesheet" href="{to_site}/{SITE_ASSETS.as_posix()}/offline.css">\n'
        f'<script src="{to_site}/{SITE_ASSETS.as_posix()}/offline.js"></script>\n'
    )
    end = text.lower().find("</head>")
    return ours + text if end < 0 else text[:end] + ours + text[end:]


def _relative(site: Path, folder: Path) -> str:
    return Path(os.path.relpath(site, folder)).as_posix()
