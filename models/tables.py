"""SQLAlchemy 2 tables for every kind the City Partner plan names.

List-valued attributes (industries, skills, majors …) are JSON arrays of stable codes or
free text: portable across SQLite and PostgreSQL and cheap to filter with
:func:`models.db.json_list_contains`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from models.clock import in_beijing
from models.enums import (
    AccountRole,
    CardTier,
    Degree,
    EntityKind,
    Hukou,
    InteractionKind,
    InvestorType,
    MemberRole,
    PersonRole,
    PostType,
    SpaceType,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(enum_cls: type[Any]) -> Enum:
    # Stored as plain strings so that adding a value never needs a database type change.
    return Enum(enum_cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Stored as UTC on every backend (SQLite would otherwise drop the offset), read back as
    Beijing time, the clock every user sees (models/clock.py)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; attach a timezone first")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return in_beijing(value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        UtcDateTime(), server_default=func.now(), onupdate=func.now()
    )


class ProfileMixin(TimestampMixin):
    """Columns every matchable profile has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    # Gazetteer codes (models.places) where known, else the text given: any city in the world.
    country: Mapped[str | None] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100), index=True)
    district: Mapped[str | None] = mapped_column(String(64), index=True)
    # Inactive profiles and those without consent to matching (PIPL) are never recommended.
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    consent_matching: Mapped[bool] = mapped_column(Boolean, default=True)


class Person(ProfileMixin, Base):
    __tablename__ = "persons"

    role: Mapped[PersonRole] = mapped_column(_enum(PersonRole), index=True)
    card_tier: Mapped[CardTier] = mapped_column(_enum(CardTier), default=CardTier.none, index=True)
    bio: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    university: Mapped[str | None] = mapped_column(String(200))
    major: Mapped[str | None] = mapped_column(String(100), index=True)
    degree: Mapped[Degree] = mapped_column(_enum(Degree), default=Degree.none)
    graduation_year: Mapped[int | None] = mapped_column(Integer)
    # What the plan's policies ask of a person: age, household registration, 楚才回家.
    birth_year: Mapped[int | None] = mapped_column(Integer)
    hukou: Mapped[Hukou | None] = mapped_column(_enum(Hukou))
    returnee: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    contact: Mapped[Contact | None] = relationship(
        back_populates="person", cascade="all, delete-orphan", uselist=False, passive_deletes=True
    )
    memberships: Mapped[list[StartupMember]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class Contact(TimestampMixin, Base):
    """Personal contact data, kept apart so that no Public schema or ranking can reach it.

    The national ID number is never stored: only a keyed hash (to detect duplicates) and a
    masked form (to show the person which number they registered).
    """

    __tablename__ = "contacts"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18))

    person: Mapped[Person] = relationship(back_populates="contact")


class Startup(ProfileMixin, Base):
    __tablename__ = "startups"

    one_liner: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    funding_ask_cny: Mapped[int | None] = mapped_column(BigInteger)
    founded_on: Mapped[dt.date | None] = mapped_column(Date)
    seeking: Mapped[list[str]] = mapped_column(JSON, default=list)
    headcount: Mapped[int | None] = mapped_column(Integer)
    funding_received_cny: Mapped[int | None] = mapped_column(BigInteger)

    members: Mapped[list[StartupMember]] = relationship(
        back_populates="startup",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="StartupMember.position",
        lazy="selectin",
    )


class StartupMember(Base):
    __tablename__ = "startup_members"

    startup_id: Mapped[int] = mapped_column(ForeignKey("startups.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole), default=MemberRole.member)
    position: Mapped[int] = mapped_column(Integer, default=0)

    startup: Mapped[Startup] = relationship(back_populates="members")
    person: Mapped[Person] = relationship(back_populates="memberships")


class Investor(ProfileMixin, Base):
    __tablename__ = "investors"

    investor_type: Mapped[InvestorType] = mapped_column(_enum(InvestorType), index=True)
    thesis: Mapped[str] = mapped_column(Text, default="")
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    ticket_min_cny: Mapped[int] = mapped_column(BigInteger, default=0)
    ticket_max_cny: Mapped[int | None] = mapped_column(BigInteger)
    districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    deals_per_quarter: Mapped[int] = mapped_column(Integer, default=4)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))


class Mentor(ProfileMixin, Base):
    __tablename__ = "mentors"

    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    bio: Mapped[str] = mapped_column(Text, default="")
    expertise: Mapped[list[str]] = mapped_column(JSON, default=list)
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_mentees: Mapped[int] = mapped_column(Integer, default=3)
    current_mentees: Mapped[int] = mapped_column(Integer, default=0)


class Space(ProfileMixin, Base):
    __tablename__ = "spaces"

    space_type: Mapped[SpaceType] = mapped_column(_enum(SpaceType), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    seats_total: Mapped[int] = mapped_column(Integer)
    seats_vacant: Mapped[int] = mapped_column(Integer)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    monthly_fee_cny: Mapped[int] = mapped_column(Integer, default=0)
    monthly_subsidy_cny: Mapped[int] = mapped_column(Integer, default=0)
    admission_criteria: Mapped[str] = mapped_column(Text, default="")
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))


class PracticeBase(ProfileMixin, Base):
    __tablename__ = "practice_bases"

    enterprise_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    majors_wanted: Mapped[list[str]] = mapped_column(JSON, default=list)
    slots_total: Mapped[int] = mapped_column(Integer)
    slots_free: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))


class RdPost(ProfileMixin, Base):
    __tablename__ = "posts"

    post_type: Mapped[PostType] = mapped_column(_enum(PostType), index=True)
    enterprise_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    industry: Mapped[str] = mapped_column(String(64), index=True)
    headcount: Mapped[int] = mapped_column(Integer)
    min_degree: Mapped[Degree] = mapped_column(_enum(Degree), default=Degree.none)


class Interaction(TimestampMixin, Base):
    """Who did what to whom, when: the history every graph and ranking signal comes from."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_actor", "actor_kind", "actor_id"),
        Index("ix_interactions_target", "target_kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    actor_kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind))
    actor_id: Mapped[int] = mapped_column(Integer)
    target_kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind))
    target_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[InteractionKind] = mapped_column(_enum(InteractionKind), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")


class Account(TimestampMixin, Base):
    """Someone who calls the API. Owns the person it is, and the profiles that person runs
    (see :func:`models.accounts.owned_profiles`) plus those linked in ``account_profiles``."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[AccountRole] = mapped_column(_enum(AccountRole))
    # Erasing the person erases their account: it is theirs, not the programme's.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), unique=True, index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AccountProfile(Base):
    """A profile an account acts for beyond those its person implies (an investor firm, an R&D post)."""

    __tablename__ = "account_profiles"
    __table_args__ = (Index("ix_account_profiles_profile", "profile_kind", "profile_id"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    profile_kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind), primary_key=True)
    profile_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ApiKey(TimestampMixin, Base):
    """An account's API key, kept only as a keyed hash: shown once when issued, never again."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class PolicyDocument(Base):
    """Staff's import or edit of a policy: its TOML file as written, validated before it is
    stored. It adds to the shipped set, or replaces the shipped policy of the same id."""

    __tablename__ = "policy_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(200))


class PolicyApplication(TimestampMixin, Base):
    """A profile's application for one of the plan's policies, at the policy version it was
    checked against; :class:`PolicyApplicationEvent` rows are its status trail."""

    __tablename__ = "policy_applications"
    __table_args__ = (Index("ix_policy_applications_applicant", "applicant_kind", "applicant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_version: Mapped[int] = mapped_column(Integer)
    applicant_kind: Mapped[EntityKind] = mapped_column(_enum(EntityKind))
    applicant_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    note: Mapped[str] = mapped_column(Text, default="")

    events: Mapped[list[PolicyApplicationEvent]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PolicyApplicationEvent.id",
        lazy="selectin",
    )


class PolicyApplicationEvent(Base):
    __tablename__ = "policy_application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("policy_applications.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    account_id: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), server_default=func.now())

    application: Mapped[PolicyApplication] = relationship(back_populates="events")


PROFILE_TABLES: dict[EntityKind, type[ProfileMixin]] = {
    EntityKind.person: Person,
    EntityKind.startup: Startup,
    EntityKind.investor: Investor,
    EntityKind.mentor: Mentor,
    EntityKind.space: Space,
    EntityKind.practice_base: PracticeBase,
    EntityKind.post: RdPost,
}
