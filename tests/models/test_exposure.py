"""Recommendations shown, counted per day and profile: the upsert adds to a day's count on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from models.enums import EntityKind
from models.exposure import add_shown, shown_between

DAY = dt.date(2026, 3, 2)


def test_counts_add_up_per_day_and_profile(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        add_shown(session, {(DAY, EntityKind.investor, 7): 2, (DAY, EntityKind.investor, 8): 1})
    with factory() as session, session.begin():
        add_shown(
            session,
            {
                (DAY, EntityKind.investor, 7): 3,
                (DAY + dt.timedelta(days=1), EntityKind.investor, 7): 4,
                (DAY, EntityKind.mentor, 7): 9,
            },
        )
    with factory() as session:
        assert shown_between(session, EntityKind.investor, DAY, DAY + dt.timedelta(days=1)) == {7: 5, 8: 1}
        assert shown_between(session, EntityKind.investor, DAY, DAY + dt.timedelta(days=2)) == {7: 9, 8: 1}
        assert shown_between(session, EntityKind.mentor, DAY, DAY + dt.timedelta(days=1)) == {7: 9}
        assert shown_between(session, EntityKind.investor, DAY - dt.timedelta(days=5), DAY) == {}
