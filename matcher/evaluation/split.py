"""A temporal split that keeps the test period out of the history a method learns from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["Dated", "TemporalLeakError", "TemporalSplit"]


class Dated(Protocol):
    """Anything that happened on a day."""

    @property
    def occurred_on(self) -> dt.date: ...


E = TypeVar("E", bound=Dated)


class TemporalLeakError(AssertionError):
    """An event sits on the wrong side of a temporal split."""


@dataclass(frozen=True)
class TemporalSplit:
    """History is every event dated strictly before ``history_end``; the test period is every
    event dated on or after ``test_start``. Events in the gap between them belong to neither,
    so nothing from just before the test period can stand in for it."""

    history_end: dt.date
    test_start: dt.date

    def __post_init__(self) -> None:
        for name in ("history_end", "test_start"):
            value = getattr(self, name)
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise TypeError(f"{name} must be a date, not {type(value).__name__}")
        if self.test_start < self.history_end:
            raise ValueError(
                f"test_start ({self.test_start}) must not come before history_end ({self.history_end})"
            )

    def in_history(self, day: dt.date) -> bool:
        return day < self.history_end

    def in_test(self, day: dt.date) -> bool:
        return day >= self.test_start

    def partition(self, events: Iterable[E]) -> tuple[list[E], list[E]]:
        """(history, test) in input order; events in the gap are dropped."""
        history: list[E] = []
        test: list[E] = []
        for event in events:
            if self.in_history(event.occurred_on):
                history.append(event)
            elif self.in_test(event.occurred_on):
                test.append(event)
        self.assert_no_leak(history, test)
        return history, test

    def assert_no_leak(self, history_events: Iterable[Dated], test_events: Iterable[Dated]) -> None:
        """Raise `TemporalLeakError` naming the first history event dated on/after
        ``history_end`` or test event dated before ``test_start``."""
        for event in history_events:
            if not self.in_history(event.occurred_on):
                raise TemporalLeakError(
                    f"history event {event!r} is dated {event.occurred_on}, "
                    f"on or after history_end {self.history_end}"
                )
        for event in test_events:
            if not self.in_test(event.occurred_on):
                raise TemporalLeakError(
                    f"test event {event!r} is dated {event.occurred_on}, before test_start {self.test_start}"
                )
