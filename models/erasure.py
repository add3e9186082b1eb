"""Erasing a person from the database (PIPL Art. 47): the row and everything that is theirs.

Gone with the person: their contact data, team memberships and account (foreign keys
cascade), every interaction they or their mentor profile took part in, their mentor profile
(it describes them, not an organisation), every account's link to those profiles, and every
batch recommendation naming them, and the counts of how often they were shown.
Organisations they ran (investors, spaces, practice bases) stay, with the reference to
them cleared; startups stay, without them on the team.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.accounts import Profile, profiles_run_by
from models.batch_runs import forget_profile
from models.changes import mark_updated
from models.enums import EntityKind
from models.exposure import forget_shown
from models.kinds import KIND_OF_ENTITY
from models.repository import Repository


@dataclass(frozen=True)
class Erasure:
    erased: list[Profile]  # deleted: the person and their mentor profiles
    referring: list[Profile]  # kept, but changed: they named the person (team, operator, partner)


def erase_person(repository: Repository, person_id: int) -> Erasure:
    """Delete the person and their mentor profiles in the caller's transaction.

    Raises :class:`models.repository.NotFoundError` when there is no such person.
    """
    repository.get(KIND_OF_ENTITY[EntityKind.person], person_id)
    run = profiles_run_by(repository.session, person_id)
    mentors = sorted(profile for profile in run if profile[0] is EntityKind.mentor)
    erasure = Erasure([*mentors, (EntityKind.person, person_id)], sorted(run - set(mentors)))
    for kind, row_id in erasure.erased:
        repository.delete(KIND_OF_ENTITY[kind], row_id)
        forget_profile(repository.session, kind, row_id)
        forget_shown(repository.session, kind, row_id)
    mark_updated(repository.session, erasure.referring)
    return erasure


def purge_freed_pages(session: Session) -> None:
    """On SQLite, cut the write-ahead log, whose old page images still hold erased rows (free
    pages are already zeroed by ``secure_delete``). PostgreSQL reclaims dead rows by VACUUM."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
