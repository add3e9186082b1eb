"""People's sign-in to the portal: a login (email or phone, argon2 password hash) per account,
whether the programme has verified it, and the demo logins ``make run`` prints."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ColumnElement, ForeignKey, Integer, String, or_, select
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from models.accounts import create_account
from models.enums import AccountRole, EntityKind, MemberRole, PersonRole
from models.identity import EMAIL_PATTERN, PHONE_PATTERN
from models.tables import (
    Account,
    AccountProfile,
    Base,
    Contact,
    Investor,
    Mentor,
    Person,
    PracticeBase,
    RdPost,
    Space,
    StartupMember,
    TimestampMixin,
    UtcDateTime,
)

MIN_PASSWORD_LENGTH = 8
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed by `make run` in development only
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when no login matches costs the same time as a real check, so the
    answer's timing does not tell which identifiers exist. Made on first use: hashing costs
    ~0.3 s, which every process importing this module (each CLI command) paid."""
    return _hasher.hash("not a password of anyone")


class Login(TimestampMixin, Base):
    """How a person signs in to the portal; the account it opens holds the role."""

    __tablename__ = "logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True, index=True
    )
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    # Investors and mentors start unverified: programme staff check them before they count.
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def identifier_kind(identifier: str) -> str | None:
    """'email' or 'phone' for a well-formed identifier, else None."""
    text = identifier.strip()
    if re.fullmatch(EMAIL_PATTERN, text):
        return "email"
    if re.fullmatch(PHONE_PATTERN, text):
        return "phone"
    return None


def normalize_identifier(identifier: str) -> str:
    text = identifier.strip()
    return text.lower() if identifier_kind(text) == "email" else re.sub(r"[- ]", "", text)


def login_for(session: Session, identifier: str) -> Login | None:
    value = normalize_identifier(identifier)
    return session.scalar(select(Login).where(or_(Login.email == value, Login.phone == value)))


def authenticate_password(session: Session, identifier: str, password: str) -> Account | None:
    """The active account whose login matches, or None (same cost either way)."""
    login = login_for(session, identifier)
    try:
        _hasher.verify(login.password_hash if login else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if login is None:
        return None
    account = session.get(Account, login.account_id)
    if account is None or not account.active:
        return None
    if _hasher.check_needs_rehash(login.password_hash):
        login.password_hash = hash_password(password)
    return account


def identifier_taken(session: Session, identifier: str) -> bool:
    return login_for(session, identifier) is not None


def add_login(session: Session, account: Account, identifier: str, password: str, *, verified: bool) -> Login:
    value = normalize_identifier(identifier)
    kind = identifier_kind(value)
    login = Login(
        account_id=account.id,
        email=value if kind == "email" else None,
        phone=value if kind == "phone" else None,
        password_hash=hash_password(password),
        verified=verified,
        verified_at=dt.datetime.now(dt.UTC) if verified else None,
    )
    session.add(login)
    session.flush()
    return login


def set_verified(session: Session, account_id: int, *, verified: bool = True) -> None:
    login = session.scalar(select(Login).where(Login.account_id == account_id))
    if login is None:
        raise LookupError(f"account {account_id} has no portal login")
    login.verified = verified
    login.verified_at = dt.datetime.now(dt.UTC) if verified else None


@dataclass(frozen=True)
class DemoLogin:
    role: str
    identifier: str
    password: str


PersonColumn = QueryableAttribute[int] | QueryableAttribute[int | None]
Condition = ColumnElement[bool] | QueryableAttribute[bool]


def _first(session: Session, statement: object) -> int | None:
    value = session.scalar(statement.limit(1))  # type: ignore[attr-defined]
    return None if value is None else int(value)


def ensure_demo_logins(session: Session) -> list[DemoLogin]:
    """One login per role on the demo ecosystem (created once, idempotent), for trying the portal.

    Picks people who already run profiles: a founder of a startup, an investor's partner, a
    mentor, a space operator and a student; and one programme-staff login with no person.
    """
    claimed = select(Account.person_id).where(Account.person_id.is_not(None))

    def first_unclaimed(person: PersonColumn, where: Condition, order: QueryableAttribute[int]) -> int | None:
        """The first person (in ``order``) of ``person``'s rows meeting ``where`` with no account yet."""
        return _first(session, select(person).where(where, person.not_in(claimed)).order_by(order))

    picks: list[tuple[str, AccountRole, int | None]] = [
        (
            "founder",
            AccountRole.founder,
            first_unclaimed(
                StartupMember.person_id, StartupMember.role == MemberRole.founder, StartupMember.startup_id
            ),
        ),
        (
            "investor",
            AccountRole.investor,
            first_unclaimed(Investor.partner_id, Investor.active, Investor.id),
        ),
        ("mentor", AccountRole.mentor, first_unclaimed(Mentor.person_id, Mentor.active, Mentor.id)),
        (
            "student",
            AccountRole.founder,
            first_unclaimed(Person.id, Person.role == PersonRole.student, Person.id),
        ),
        ("staff", AccountRole.admin, None),
    ]
    found = [*_demo_operator(session), *_demo_enterprise(session)]
    for label, role, person_id in picks:
        identifier = f"demo-{label}@citypartner.example"
        if login_for(session, identifier) is None:
            if label != "staff" and person_id is None:
                continue  # an ecosystem without such a person (not the demo data)
            account = create_account(session, name=f"demo {label}", role=role, person_id=person_id)
            add_login(session, account, identifier, DEMO_PASSWORD, verified=True)
            if person_id is not None:
                _give_contact(session, person_id, identifier)
        found.append(DemoLogin(label, identifier, DEMO_PASSWORD))
    return found


def _demo_operator(session: Session) -> list[DemoLogin]:
    """The demo's spaces name no operator person, so the demo operator's account is linked to a
    space with vacant seats explicitly."""
    identifier = "demo-operator@citypartner.example"
    if login_for(session, identifier) is None:
        linked = select(AccountProfile.profile_id).where(AccountProfile.profile_kind == EntityKind.space)
        space_id = _first(
            session,
            select(Space.id)
            .where(Space.active, Space.seats_vacant > 0, Space.id.not_in(linked))
            .order_by(Space.id),
        )
        if space_id is None:
            return []
        account = create_account(
            session, name="demo operator", role=AccountRole.operator, profiles=[(EntityKind.space, space_id)]
        )
        add_login(session, account, identifier, DEMO_PASSWORD, verified=True)
    return [DemoLogin("operator", identifier, DEMO_PASSWORD)]


def _demo_enterprise(session: Session) -> list[DemoLogin]:
    """An enterprise running one practice base and one R&D post nobody else runs."""
    identifier = "demo-enterprise@citypartner.example"
    if login_for(session, identifier) is None:
        linked = select(AccountProfile.profile_id)
        base_id = _first(
            session,
            select(PracticeBase.id)
            .where(
                PracticeBase.active,
                PracticeBase.slots_free > 0,
                PracticeBase.id.not_in(linked.where(AccountProfile.profile_kind == EntityKind.practice_base)),
            )
            .order_by(PracticeBase.id),
        )
        post_id = _first(
            session,
            select(RdPost.id)
            .where(
                RdPost.active, RdPost.id.not_in(linked.where(AccountProfile.profile_kind == EntityKind.post))
            )
            .order_by(RdPost.id),
        )
        profiles = [(EntityKind.practice_base, base_id)] if base_id is not None else []
        profiles += [(EntityKind.post, post_id)] if post_id is not None else []
        if not profiles:
            return []
        account = create_account(
            session, name="demo enterprise", role=AccountRole.enterprise, profiles=profiles
        )
        add_login(session, account, identifier, DEMO_PASSWORD, verified=True)
    return [DemoLogin("enterprise", identifier, DEMO_PASSWORD)]


def _give_contact(session: Session, person_id: int, email: str) -> None:
    contact = session.get(Contact, person_id)
    if contact is None:
        session.add(Contact(person_id=person_id, email=email))
    elif contact.email is None:
        contact.email = email
