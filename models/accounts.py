"""Accounts, their API keys, the profiles each acts for, and accepted introductions.

An API key is 256 random bits, so a keyed SHA-256 (HMAC under the settings secret) is enough
to store it: nobody can guess a key from its hash, and a stolen table without the secret
cannot even be checked against a candidate key. Rotating the secret therefore retires every
key, which is the point of rotating it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, literal, or_, select, union_all
from sqlalchemy.orm import Session

from models.clock import beijing_now
from models.enums import AccountRole, EntityKind, InteractionKind, MemberRole
from models.kinds import PERSON_COLUMNS
from models.tables import (
    PROFILE_TABLES,
    Account,
    AccountProfile,
    ApiKey,
    Interaction,
    StartupMember,
)

KEY_PREFIX = "cpm_"
SHOWN_PREFIX_LENGTH = 12
Profile = tuple[EntityKind, int]

# A person runs the profiles whose column names them: each kind's id and person columns.
_RUN_BY_PERSON = tuple(
    (kind, PROFILE_TABLES[kind].id, getattr(PROFILE_TABLES[kind], column))
    for kind, column in PERSON_COLUMNS.items()
)
# Accepting an introduction: each side records one of these towards the other.
INTRODUCTION_KINDS = frozenset({InteractionKind.contacted, InteractionKind.meeting})
# Team members whose contact data an accepted introduction with their startup reveals.
INTRODUCED_MEMBER_ROLES = frozenset({MemberRole.founder, MemberRole.cofounder})


@dataclass(frozen=True)
class IssuedKey:
    """A key as shown once to its holder; only ``prefix`` and the hash are kept."""

    account_id: int
    key: str

    @property
    def prefix(self) -> str:
        return self.key[:SHOWN_PREFIX_LENGTH]


def key_hash(key: str, secret: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def create_account(
    session: Session,
    *,
    name: str,
    role: AccountRole,
    person_id: int | None = None,
    profiles: Iterable[Profile] = (),
) -> Account:
    if person_id is not None:
        holder = session.scalar(select(Account.id).where(Account.person_id == person_id))
        if holder is not None:
            raise ValueError(f"person: already has account {holder}; one account per person")
    account = Account(name=name, role=role, person_id=person_id, active=True)
    session.add(account)
    session.flush()
    for kind, profile_id in profiles:
        link_profile(session, account.id, kind, profile_id)
    return account


def link_profile(session: Session, account_id: int, kind: EntityKind, profile_id: int) -> None:
    session.add(AccountProfile(account_id=account_id, profile_kind=kind, profile_id=profile_id))
    session.flush()


def issue_key(session: Session, account: Account, *, secret: str) -> IssuedKey:
    issued = IssuedKey(account.id, KEY_PREFIX + secrets.token_urlsafe(32))
    session.add(ApiKey(account_id=account.id, key_hash=key_hash(issued.key, secret), prefix=issued.prefix))
    session.flush()
    return issued


def revoke_key(session: Session, prefix: str) -> int:
    """Revoke every live key starting with ``prefix``; returns how many."""
    keys = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))).all()
    for key in keys:
        key.revoked_at = beijing_now()
    session.flush()
    return len(keys)


def account_for_key(session: Session, key: str, *, secret: str) -> Account | None:
    """The active account holding this live key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    return session.scalar(
        select(Account)
        .join(ApiKey, ApiKey.account_id == Account.id)
        .where(ApiKey.key_hash == key_hash(key, secret), ApiKey.revoked_at.is_(None), Account.active)
    )


def owned_profiles(session: Session, account: Account) -> frozenset[Profile]:
    """Every profile the account may act for: its person, the profiles that person runs
    (:func:`profiles_run_by`), and the profiles linked to the account explicitly. One query:
    it runs on every request of a non-admin account."""
    linked = select(AccountProfile.profile_kind.label("kind"), AccountProfile.profile_id.label("id")).where(
        AccountProfile.account_id == account.id
    )
    person_id = account.person_id
    if person_id is None:
        return frozenset(_profiles(session, [linked]))
    return frozenset({(EntityKind.person, person_id), *_profiles(session, [linked, *_run_by(person_id)])})


def profiles_run_by(session: Session, person_id: int) -> set[Profile]:
    """The startups whose team lists the person, and the investors, mentors, spaces and
    practice bases whose person column names them."""
    return _profiles(session, _run_by(person_id))


def _run_by(person_id: int) -> list[Any]:
    team = select(
        literal(EntityKind.startup.value).label("kind"), StartupMember.startup_id.label("id")
    ).where(StartupMember.person_id == person_id)
    return [team] + [
        select(literal(kind.value).label("kind"), id_column.label("id")).where(person_column == person_id)
        for kind, id_column, person_column in _RUN_BY_PERSON
    ]


def _profiles(session: Session, queries: list[Any]) -> set[Profile]:
    return {(EntityKind(kind), int(row_id)) for kind, row_id in session.execute(union_all(*queries))}


def introduced_sides(session: Session, person_id: int) -> set[Profile]:
    """The profiles through which an introduction reaches a person: the person, and the
    startups they founded or co-founded."""
    startups = session.scalars(
        select(StartupMember.startup_id).where(
            StartupMember.person_id == person_id, StartupMember.role.in_(INTRODUCED_MEMBER_ROLES)
        )
    )
    return {(EntityKind.person, person_id), *((EntityKind.startup, s) for s in startups)}


def introductions_accepted(session: Session, ours: Iterable[Profile], theirs: Iterable[Profile]) -> bool:
    """True when some profile of ``ours`` and some of ``theirs`` each recorded a ``contacted``
    or ``meeting`` interaction towards the other: both sides accepted the introduction."""
    ours, theirs = list(ours), list(theirs)
    if not ours or not theirs:
        return False
    one_way = session.execute(
        select(
            Interaction.actor_kind, Interaction.actor_id, Interaction.target_kind, Interaction.target_id
        ).where(
            Interaction.kind.in_(INTRODUCTION_KINDS),
            or_(
                and_(interaction_end_is_one_of(ours, "actor"), interaction_end_is_one_of(theirs, "target")),
                and_(interaction_end_is_one_of(theirs, "actor"), interaction_end_is_one_of(ours, "target")),
            ),
        )
    ).all()
    edges = {((a_kind, a_id), (t_kind, t_id)) for a_kind, a_id, t_kind, t_id in one_way}
    return any((target, actor) in edges for actor, target in edges)


def interaction_end_is_one_of(profiles: Iterable[Profile], end: str) -> ColumnElement[bool]:
    """SQL: the interaction's ``end`` ("actor" or "target") is one of ``profiles``."""
    kind_column, id_column = getattr(Interaction, f"{end}_kind"), getattr(Interaction, f"{end}_id")
    # One IN per kind, not one AND per profile: an IN list is one expanding parameter, so the
    # statement compiles once whatever the number of profiles (a page's ten candidates cost a
    # fresh compilation each time as ten ANDs).
    by_kind: dict[EntityKind, list[int]] = {}
    for kind, row_id in profiles:
        by_kind.setdefault(kind, []).append(row_id)
    return or_(
        false(),
        *(and_(kind_column == kind, id_column.in_(sorted(ids))) for kind, ids in sorted(by_kind.items())),
    )


def forget_profile_links(session: Session, kind: EntityKind, profile_id: int) -> None:
    """Profiles are referred to polymorphically, so no foreign key cascades their links."""
    session.execute(
        delete(AccountProfile).where(
            AccountProfile.profile_kind == kind, AccountProfile.profile_id == profile_id
        )
    )
