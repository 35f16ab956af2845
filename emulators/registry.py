"""The bundled emulators, one per stakeholder system, started together on loopback."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from emulators.server import Emulator
from emulators.synthetic import Clock

EMULATORS: tuple[str, ...] = ("city", "sensors", "transit", "university", "citizens")


def build(name: str, clock: Clock, port: int = 0) -> Emulator:
    return importlib.import_module(f"emulators.{name}").build(clock, port)


@contextmanager
def running(clock: Clock, ports: Mapping[str, int]) -> Iterator[dict[str, Emulator]]:
    """Start every emulator (port 0, or missing, picks a free one) and stop them all after."""
    started: dict[str, Emulator] = {}
    try:
        for name in EMULATORS:
            try:
                started[name] = build(name, clock, ports.get(name, 0)).start()
            except OSError as error:
                raise OSError(
                    f"emulator {name!r} cannot listen on 127.0.0.1:{ports.get(name, 0)}: {error}"
                ) from None
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()
