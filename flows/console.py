"""What a steward sees while a flow runs: our own log lines, one per step, without Prefect's.

Prefect's console log (engine messages, state changes, tracebacks) is switched off by the CLI
unless ``--verbose``; the flows' own messages (one per batch, per dataset, per report) still reach
the Prefect API for the UI, and are printed here as short timestamped lines. Whatever else would
reach stderr meanwhile (the ephemeral Prefect API's subprocess inherits it, and logs its own
shutdown noise) goes to a log file instead, so that stderr carries nothing but the error line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# Loggers our messages go through: Prefect's run loggers (get_run_logger) and our packages'.
_LOGGERS = (
    "prefect.flow_runs",
    "prefect.task_runs",
    "connectors",
    "warehouse",
    "expectations",
    "delivery",
    "flows",
)
_PROJECT = Path(__file__).resolve().parent.parent


class _OwnMessages(logging.Filter):
    """Records written by this project's code, not by Prefect's engine or another library."""

    def filter(self, record: logging.LogRecord) -> bool:
        path = Path(record.pathname)
        return path.is_relative_to(_PROJECT) and ".venv" not in path.parts


@contextmanager
def progress_to(stream: TextIO, log_file: Path, *, verbose: bool = False) -> Iterator[None]:
    """Print the flows' own INFO-and-above messages to ``stream`` while the block runs, and
    send stderr (of this process and of those it starts) to ``log_file``.

    With ``verbose`` nothing changes: Prefect's console handler already prints everything.
    """
    if verbose:
        yield
        return
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.addFilter(_OwnMessages())
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        with _stderr_to(log_file):
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("a", encoding="utf-8") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
