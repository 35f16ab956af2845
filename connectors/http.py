"""One httpx client per connector run, and a GET with bounded retries.

httpx's own ``HTTPTransport(retries=…)`` only retries failed connection attempts, so timeouts,
truncated bodies, 5xx and 429 get their own bounded backoff here; 429 honours ``Retry-After``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.base import NotFoundError, Page, Source, SourceError, UnreachableError

log = logging.getLogger(__name__)

USER_AGENT = "khonkaen-smartcity/0.1 (+data pipelines of the Khon Kaen Smart City programme)"


def make_client(source: Source, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A client with explicit timeouts; credentials come from the source (i.e. the environment)."""
    headers = {"User-Agent": USER_AGENT}
    if source.token:
        headers["Authorization"] = f"Bearer {source.token}"
    return httpx.Client(
        base_url=source.url,
        headers=headers,
        timeout=httpx.Timeout(source.timeout_seconds, connect=min(10.0, source.timeout_seconds)),
        transport=transport or httpx.HTTPTransport(retries=2),
        follow_redirects=True,
    )


def fetch(
    client: httpx.Client,
    source: Source,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    extension: str = "json",
    watermark_after: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Page:
    """GET ``url`` and return the response as a :class:`Page`, retrying what is worth retrying.

    Retries (at most ``source.max_retries`` times) on transport errors, timeouts, truncated bodies,
    5xx and 429. Any other 4xx, or running out of retries, raises :class:`SourceError`
    (:class:`NotFoundError` for a 404); a refused connection raises :class:`UnreachableError` at
    once (the transport has retried connecting twice already).
    """
    attempts = source.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(url, params=params)
        except httpx.ConnectError as error:
            # nobody listens there (or the name does not resolve): the transport has already
            # retried the connection, and waiting longer rarely helps; the next run will try
            raise UnreachableError(
                f"{source.dataset}: cannot connect to {client.base_url.join(url)} "
                f"({error or 'connection failed'}); is the source up and its url right?"
            ) from None
        except httpx.TransportError as error:
            reason = f"{type(error).__name__}: {error or 'no detail'}"
            wait = _backoff(source, attempt)
        else:
            if response.status_code < 400:
                return Page(
                    url=str(response.url),
                    content=response.content,
                    extension=extension,
                    received_at=datetime.now(UTC),
                    watermark_after=watermark_after,
                )
            reason = f"HTTP {response.status_code}"
            if response.status_code == 429:
                wait = min(
                    _retry_after(response) or _backoff(source, attempt),
                    source.max_retry_after_seconds,
                )
            elif response.status_code >= 500:
                wait = _backoff(source, attempt)
            else:
                error = NotFoundError if response.status_code == 404 else SourceError
                raise error(
                    f"{source.dataset}: GET {response.url} answered {reason}: "
                    f"{response.text[:500]!r}"
                )
        if attempt == attempts:
            break
        log.warning(
            "%s: GET %s failed (%s), retry %d/%d in %.1f s",
            source.dataset,
            url,
            reason,
            attempt,
            source.max_retries,
            wait,
        )
        sleep(wait)
    raise SourceError(
        f"{source.dataset}: GET {client.base_url.join(url)} failed after {attempts} attempts: "
        f"{reason}"
    )


def _backoff(source: Source, attempt: int) -> float:
    return source.backoff_seconds * 2 ** (attempt - 1)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
