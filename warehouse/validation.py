"""What a validation says about a batch, and what the loader does about it.

The checking engine (Great Expectations, in ``expectations/``) returns one :class:`Outcome` per
expectation and table; this module holds the policy, which is the same whatever the engine:

- a failed ``critical`` check on the table as a whole (columns, row count, an expectation that
  could not run) sets the whole batch aside: every row goes to quarantine, nothing to ``raw``;
- a failed ``critical`` check row by row sets those rows aside, with the expectation as reason;
- a failed ``warning`` loads everything and is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import Table

CRITICAL, WARNING = "critical", "warning"


@dataclass(frozen=True)
class Outcome:
    """One expectation run on one table of a batch."""

    table: str
    expectation: str  # e.g. "expect_column_values_to_be_between(pm25)"
    severity: str
    success: bool
    observed: str | None = None
    unexpected_count: int | None = None
    row_level: bool = False
    failed_rows: tuple[int, ...] = ()  # positions (``_row``) of the rows that failed


@dataclass(frozen=True)
class Checks:
    """What the checks of one batch need to know besides the rows."""

    batch_id: str
    run_id: str | None
    fresh_after: datetime | None  # newest record must be newer; None: do not judge freshness
    previous_rows: Mapping[str, int] = field(default_factory=dict)  # per table, last batch's


Validate = Callable[[Table, list[dict[str, Any]], set[str], Checks], list[Outcome]]


def batch_failure(outcomes: list[Outcome]) -> Outcome | None:
    """The first failed critical table-level outcome: it sets the whole batch aside."""
    for outcome in outcomes:
        if not outcome.success and outcome.severity == CRITICAL and not outcome.row_level:
            return outcome
    return None


def rows_to_set_aside(outcomes: list[Outcome]) -> dict[tuple[str, int], list[str]]:
    """Per (table, row position), the critical row-level expectations it failed."""
    reasons: dict[tuple[str, int], list[str]] = {}
    for outcome in outcomes:
        if outcome.success or outcome.severity != CRITICAL or not outcome.row_level:
            continue
        for row in outcome.failed_rows:
            reasons.setdefault((outcome.table, row), []).append(outcome.expectation)
    return reasons


def describe(outcome: Outcome) -> str:
    observed = f", observed {outcome.observed}" if outcome.observed is not None else ""
    return f"{outcome.expectation} failed ({outcome.severity}{observed})"
