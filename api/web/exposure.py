"""The recommendations pages show, counted in memory and written in batches: a page adds its
matches to a counter (no database write on the request), a task writes the counts every few
seconds and when the app stops. A worker that dies loses at most those seconds of counts, a
measurement's margin, never a person's data."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterable

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from matcher.matcher import Match
from models.enums import EntityKind
from models.exposure import add_shown

FLUSH_EVERY_S = 10.0


class ShownLog:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self._counts: Counter[tuple[dt.date, EntityKind, int]] = Counter()
        self._lock = threading.Lock()

    def add(self, matches: Iterable[Match]) -> None:
        day = dt.datetime.now(dt.UTC).date()  # the dashboard's date range is in UTC
        with self._lock:
            self._counts.update((day, m.kind, m.id) for m in matches)

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        try:
            with self.factory() as session, session.begin():
                add_shown(session, counts)
        except Exception:
            with self._lock:  # kept for the next flush rather than lost
                self._counts.update(counts)
            raise

    async def run(self, every: float = FLUSH_EVERY_S) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):  # the database busy: the counts wait for the next turn
                await run_in_threadpool(self.flush)


def start_shown_log(log: ShownLog) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(log.run())


async def stop_shown_log(log: ShownLog, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await run_in_threadpool(log.flush)


def shown_log(request: Request) -> ShownLog:
    log: ShownLog = request.app.state.shown_log
    return log
