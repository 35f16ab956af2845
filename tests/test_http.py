"""The shared GET: what is retried, how long it waits, and what it reports when it gives up."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import Source, SourceError
from connectors.http import fetch, make_client

SOURCE = Source(
    dataset="test.dataset", url="http://source.test", max_retries=3, backoff_seconds=0.5
)


def scripted(*answers: object) -> tuple[httpx.MockTransport, list[str]]:
    """A transport that plays ``answers`` in order: a Response, or an exception to raise."""
    queue, seen = list(answers), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


def get(transport: httpx.MockTransport, sleeps: list[float], source: Source = SOURCE):
    with make_client(source, transport) as client:
        return fetch(client, source, "/data.json", params={"page": 2}, sleep=sleeps.append)


def test_burst_of_500_then_success_backs_off_exponentially() -> None:
    transport, seen = scripted(
        httpx.Response(500), httpx.Response(503), httpx.Response(200, content=b'{"ok": 1}')
    )
    sleeps: list[float] = []
    page = get(transport, sleeps)
    assert page.content == b'{"ok": 1}'
    assert page.url == "http://source.test/data.json?page=2"
    assert sleeps == [0.5, 1.0]
    assert len(seen) == 3


def test_429_waits_for_retry_after() -> None:
    transport, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, content=b"[]")
    )
    sleeps: list[float] = []
    assert get(transport, sleeps).content == b"[]"
    assert sleeps == [7.0]


def test_429_retry_after_is_capped() -> None:
    transport, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200, content=b"[]")
    )
    sleeps: list[float] = []
    get(transport, sleeps, Source(dataset="d", url="http://s.test", max_retry_after_seconds=60))
    assert sleeps == [60.0]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    ],
    ids=["timeout", "truncated body"],  # a refused connection is not: see test_cli_failures
)
def test_transport_failures_are_retried(failure: Exception) -> None:
    transport, seen = scripted(failure, httpx.Response(200, content=b"ok"))
    sleeps: list[float] = []
    assert get(transport, sleeps).content == b"ok"
    assert len(seen) == 2 and sleeps == [0.5]


def test_client_error_is_not_retried_and_names_dataset_and_url() -> None:
    transport, seen = scripted(httpx.Response(404, text="no such resource"))
    with pytest.raises(SourceError, match=r"test\.dataset: GET http://source\.test/data\.json"):
        get(transport, [])
    assert len(seen) == 1


def test_gives_up_after_bounded_retries() -> None:
    transport, seen = scripted(*[httpx.Response(502)] * 4)
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="failed after 4 attempts: HTTP 502"):
        get(transport, sleeps)
    assert len(seen) == 4 and sleeps == [0.5, 1.0, 2.0]


def test_token_is_sent_as_bearer() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200)

    source = Source(dataset="d", url="http://s.test", token="s3cret")
    with make_client(source, httpx.MockTransport(handler)) as client:
        fetch(client, source, "/x")
    assert seen == ["Bearer s3cret"]
