"""Requests between two profiles, as the portal shows them: an introduction (double opt-in) or
an application, its status, and the contact data revealed once both sides said yes.

Everything is an interaction, so the matcher learns from every step: the requester records
``contacted`` (an introduction) or ``applied`` (to a space, base or post); the counterpart
answers with ``contacted`` (yes), ``declined`` (no), or an outcome (``admitted``, ``placed``,
``mentored``, ``invested``). Contact data is shown only when
:func:`models.accounts.introductions_accepted` holds for the pair, the rule the API's contact
endpoint applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models.accounts import (
    INTRODUCED_MEMBER_ROLES,
    Profile,
    interaction_end_is_one_of,
    introductions_accepted,
)
from models.enums import EntityKind, InteractionKind
from models.kinds import PERSON_COLUMNS, kind_spec
from models.repository import Repository
from models.schemas import InteractionCreate
from models.tables import (
    PROFILE_TABLES,
    Contact,
    Interaction,
    Person,
    StartupMember,
)

REQUEST_KINDS = frozenset({InteractionKind.contacted, InteractionKind.applied})
YES = frozenset({InteractionKind.contacted, InteractionKind.meeting})
OUTCOMES = frozenset(
    {InteractionKind.admitted, InteractionKind.placed, InteractionKind.mentored, InteractionKind.invested}
)
ANSWERS = YES | OUTCOMES | {InteractionKind.declined}


@dataclass(frozen=True)
class ContactCard:
    name: str
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class RequestView:
    interaction_id: int
    ours: Profile
    theirs: Profile
    our_name: str
    their_name: str
    kind: InteractionKind  # contacted (introduction) or applied
    status: str  # pending, accepted, declined, or an outcome's name
    at: dt.datetime
    contacts: tuple[ContactCard, ...]


def name_of(session: Session, profile: Profile) -> str:
    row = session.get(PROFILE_TABLES[profile[0]], profile[1])
    return "" if row is None else str(row.name)


def record(
    repository: Repository,
    actor: Profile,
    target: Profile,
    kind: InteractionKind,
    *,
    note: str = "",
    amount: int | None = None,
) -> Interaction:
    """One interaction, through the repository, so the change feed carries it to the matcher."""
    refs = repository.refs
    model = InteractionCreate(
        actor_kind=actor[0],
        actor_external_id=refs.external_id(actor[0], actor[1]),
        target_kind=target[0],
        target_external_id=refs.external_id(target[0], target[1]),
        kind=kind,
        note=note,
        amount_cny=amount,
    )
    interaction: Interaction = repository.create(kind_spec("interactions"), model)
    return interaction


def _between(
    session: Session, sides: Iterable[Profile], end: str, kinds: Iterable[InteractionKind]
) -> list[Interaction]:
    owned = sorted(sides)
    if not owned:
        return []
    return list(
        session.scalars(
            select(Interaction)
            .where(interaction_end_is_one_of(owned, end), Interaction.kind.in_(list(kinds)))
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        )
    )


def _answers(
    session: Session, pairs: Sequence[tuple[Profile, Profile]]
) -> dict[tuple[Profile, Profile], InteractionKind]:
    """For each (requester, counterpart): the counterpart's latest answer towards the requester."""
    if not pairs:
        return {}
    conditions = [
        and_(
            Interaction.actor_kind == theirs[0],
            Interaction.actor_id == theirs[1],
            Interaction.target_kind == ours[0],
            Interaction.target_id == ours[1],
        )
        for ours, theirs in pairs
    ]
    found: dict[tuple[Profile, Profile], InteractionKind] = {}
    rows = session.scalars(
        select(Interaction)
        .where(or_(*conditions), Interaction.kind.in_(list(ANSWERS)))
        .order_by(Interaction.occurred_at, Interaction.id)
    )
    for row in rows:
        found[((row.target_kind, row.target_id), (row.actor_kind, row.actor_id))] = row.kind
    return found


def _status(answer: InteractionKind | None) -> str:
    if answer is None:
        return "pending"
    if answer in YES:
        return "accepted"
    return answer.value


def outgoing(session: Session, owned: Iterable[Profile]) -> list[RequestView]:
    """Every request the caller's profiles made, newest first."""
    rows = _between(session, owned, "actor", REQUEST_KINDS)
    return _views(session, rows, mine="actor")


def incoming(session: Session, owned: Iterable[Profile]) -> list[RequestView]:
    """Every request made to the caller's profiles, newest first; ``ours`` is the caller's side."""
    rows = _between(session, owned, "target", REQUEST_KINDS)
    return _views(session, rows, mine="target")


def _views(session: Session, rows: list[Interaction], *, mine: str) -> list[RequestView]:
    """One view per pair (its latest request), seen from the ``mine`` end: "actor" or "target".

    Contacts are left out: a page reveals them with :func:`with_contacts` for the rows it shows,
    not for every request the person ever made.
    """
    latest: dict[tuple[Profile, Profile], Interaction] = {}
    for row in rows:  # newest first
        latest.setdefault(((row.actor_kind, row.actor_id), (row.target_kind, row.target_id)), row)
    answers = _answers(session, list(latest))
    names = names_of(session, {side for pair in latest for side in pair})
    views = []
    for (requester, counterpart), row in latest.items():
        status = _status(answers.get((requester, counterpart)))
        ours, theirs = (requester, counterpart) if mine == "actor" else (counterpart, requester)
        views.append(
            RequestView(
                row.id, ours, theirs, names[ours], names[theirs], row.kind, status, row.occurred_at, ()
            )
        )
    return views


def with_contacts(session: Session, views: Iterable[RequestView]) -> list[RequestView]:
    """The views with the other side's contacts where both sides said yes."""
    # Pending or declined: the counterpart has not said yes, so nothing can be revealed.
    return [
        v
        if v.status in {"pending", "declined"}
        else replace(v, contacts=revealed_contacts(session, v.ours, v.theirs))
        for v in views
    ]


def names_of(session: Session, profiles: Iterable[Profile]) -> dict[Profile, str]:
    """Each profile's name (empty when gone), one query per kind."""
    wanted: dict[EntityKind, set[int]] = {}
    for kind, row_id in profiles:
        wanted.setdefault(kind, set()).add(row_id)
    names: dict[Profile, str] = {}
    for kind, ids in wanted.items():
        table = PROFILE_TABLES[kind]
        found = dict(session.execute(select(table.id, table.name).where(table.id.in_(sorted(ids)))).all())
        names.update({(kind, i): str(found.get(i, "")) for i in ids})
    return names


def pending_count(session: Session, owned: Iterable[Profile]) -> int:
    """How many requests to the caller's profiles wait for an answer."""
    return sum(1 for v in incoming(session, owned) if v.status == "pending")


def people_of(session: Session, profile: Profile) -> list[int]:
    """The persons an introduction with ``profile`` reaches."""
    kind, row_id = profile
    if kind is EntityKind.person:
        return [row_id]
    if kind is EntityKind.startup:
        return list(
            session.scalars(
                select(StartupMember.person_id).where(
                    StartupMember.startup_id == row_id, StartupMember.role.in_(INTRODUCED_MEMBER_ROLES)
                )
            )
        )
    if kind not in PERSON_COLUMNS:
        return []
    table = PROFILE_TABLES[kind]
    person = session.scalar(select(getattr(table, PERSON_COLUMNS[kind])).where(table.id == row_id))
    return [] if person is None else [person]


def revealed_contacts(session: Session, ours: Profile, theirs: Profile) -> tuple[ContactCard, ...]:
    """The other side's contact data, only when both sides said yes to each other."""
    if not introductions_accepted(session, [ours], [theirs]):
        return ()
    cards = []
    for person_id in people_of(session, theirs):
        person = session.get(Person, person_id)
        contact = session.get(Contact, person_id)
        if person is not None:
            cards.append(
                ContactCard(
                    person.name, contact.phone if contact else None, contact.email if contact else None
                )
            )
    return tuple(cards)


def pair_status(session: Session, ours: Profile, theirs: Profile) -> str | None:
    """None when ``ours`` never asked ``theirs``; else the request's status."""
    asked = session.scalar(
        select(Interaction.id)
        .where(
            Interaction.actor_kind == ours[0],
            Interaction.actor_id == ours[1],
            Interaction.target_kind == theirs[0],
            Interaction.target_id == theirs[1],
            Interaction.kind.in_(list(REQUEST_KINDS)),
        )
        .limit(1)
    )
    if asked is None:
        return None
    return _status(_answers(session, [(ours, theirs)]).get((ours, theirs)))


def statuses(session: Session, ours: Profile, candidates: Sequence[Profile]) -> dict[Profile, str]:
    """The status of ``ours``' request to each candidate that was asked (one query each way)."""
    if not candidates:
        return {}
    asked = {
        (row.target_kind, row.target_id)
        for row in session.scalars(
            select(Interaction).where(
                Interaction.actor_kind == ours[0],
                Interaction.actor_id == ours[1],
                interaction_end_is_one_of(candidates, "target"),
                Interaction.kind.in_(list(REQUEST_KINDS)),
            )
        )
    }
    answers = _answers(session, [(ours, theirs) for theirs in asked])
    return {theirs: _status(answers.get((ours, theirs))) for theirs in asked}
