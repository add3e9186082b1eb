"""The registry of kinds: one declarative spec each, read by the repository, import/export,
the API and the CLI, so that adding a kind never means copying a router or an importer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import schemas as s
from models.enums import (
    CardTier,
    Degree,
    EntityKind,
    InteractionKind,
    InvestorType,
    PersonRole,
    PostType,
    SpaceType,
)
from models.identity import hash_id_number, mask_id_number
from models.refs import ExternalIds, KnownIds, ReferenceCheckError
from models.tables import (
    Base,
    Contact,
    Interaction,
    Investor,
    Mentor,
    Person,
    PracticeBase,
    RdPost,
    Space,
    Startup,
    StartupMember,
)

FilterMode = Literal["eq", "contains", "search"]


@dataclass(frozen=True)
class FilterField:
    """A list filter: ``column`` compared to the query value by ``mode``."""

    annotation: Any
    column: str
    mode: FilterMode = "eq"
    description: str = ""


class IdNumberOwners(Protocol):
    """Who holds a national ID number already, by its keyed hash: one number, one person."""

    def owner(self, id_hash: str) -> int | None: ...

    def claim(self, id_hash: str, person: Person) -> None: ...


class StoredIdNumbers:
    """The owners the database knows; its query flushes, so a person written earlier in the same
    unit of work is known too, and the person's contact row is its claim."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def owner(self, id_hash: str) -> int | None:
        return self.session.scalar(select(Contact.person_id).where(Contact.id_number_hash == id_hash))

    def claim(self, id_hash: str, person: Person) -> None:
        pass


class BatchIdNumbers:
    """The owners among a batch of persons built in memory (``Catalog.from_records``)."""

    def __init__(self) -> None:
        self._owners: dict[str, Person] = {}

    def owner(self, id_hash: str) -> int | None:
        person = self._owners.get(id_hash)
        return None if person is None else person.id

    def claim(self, id_hash: str, person: Person) -> None:
        self._owners[id_hash] = person


@dataclass(frozen=True)
class WriteContext:
    refs: KnownIds
    secret: str
    id_numbers: IdNumberOwners


ReadExtra = Callable[[ExternalIds, Any], dict[str, Any]]
WriteExtra = Callable[[WriteContext, Any, BaseModel], None]
PublicExtra = Callable[[Session, Sequence[Any]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class KindSpec:
    slug: str
    table: type[Base]
    create: type[s.CreateSchema]
    update: type[BaseModel]
    public: type[s.PublicSchema]
    id_prefix: str
    entity: EntityKind | None = None
    filters: Mapping[str, FilterField] = field(default_factory=dict)
    # schema field -> (kind referred to, column holding its row id)
    references: Mapping[str, tuple[EntityKind, str]] = field(default_factory=dict)
    # Create fields that are not plain columns, with how to read and write them.
    read_extra: ReadExtra | None = None
    write_extra: WriteExtra | None = None
    public_extra: PublicExtra | None = None
    write_only: frozenset[str] = frozenset()

    @cached_property
    def filter_model(self) -> type[BaseModel]:
        fields: dict[str, Any] = {
            name: (f.annotation | None, Field(default=None, description=f.description))
            for name, f in self.filters.items()
        }
        return create_model(
            f"{self.create.__name__.removesuffix('Create')}Filters",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )

    @cached_property
    def column_fields(self) -> tuple[str, ...]:
        """Create fields stored as a column of the same name."""
        columns = set(self.table.__table__.columns.keys())
        return tuple(name for name in self.create.model_fields if name in columns)

    @cached_property
    def list_fields(self) -> frozenset[str]:
        """Create fields holding a list (a CSV cell carries them as JSON or '|'-separated)."""
        return frozenset(
            name for name, info in self.create.model_fields.items() if _holds_list(info.annotation)
        )


def _holds_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(get_origin(arg) is list for arg in get_args(annotation))


# --- the few fields that are not plain columns ----------------------------------------


def _write_contact(context: WriteContext, person: Person, model: BaseModel) -> None:
    given = model.model_fields_set & {"phone", "email", "id_number"}
    if not given:
        return
    contact = person.contact or Contact()
    values = {name: getattr(model, name) for name in given}
    if "phone" in values:
        contact.phone = values["phone"]
    if "email" in values:
        contact.email = values["email"]
    if "id_number" in values:
        number = values["id_number"]
        id_hash = None if number is None else hash_id_number(number, context.secret)
        if id_hash is not None:
            owner = context.id_numbers.owner(id_hash)
            if owner is not None and owner != person.id:
                raise ReferenceCheckError("id_number", "already registered to another person")
            context.id_numbers.claim(id_hash, person)
        contact.id_number_hash = id_hash
        contact.id_number_masked = None if number is None else mask_id_number(number)
    person.contact = contact


def _read_team(refs: ExternalIds, startup: Startup) -> dict[str, Any]:
    return {
        "team": [
            {"person_external_id": refs.external_id(EntityKind.person, m.person_id), "role": m.role}
            for m in startup.members
        ]
    }


def _write_team(context: WriteContext, startup: Startup, model: BaseModel) -> None:
    if "team" not in model.model_fields_set:
        return
    team: list[s.TeamMember] = model.team  # type: ignore[attr-defined]
    person_ids = [
        context.refs.row_id(EntityKind.person, m.person_external_id, field=f"team.{i}.person_external_id")
        for i, m in enumerate(team)
    ]
    existing = {member.person_id: member for member in startup.members}
    startup.members = [
        _member(existing.get(person_id), person_id, member.role, position)
        for position, (person_id, member) in enumerate(zip(person_ids, team, strict=True))
    ]


def _member(current: StartupMember | None, person_id: int, role: Any, position: int) -> StartupMember:
    member = current or StartupMember(person_id=person_id)
    member.role = role
    member.position = position
    return member


def _portfolios(session: Session, investors: Sequence[Investor]) -> dict[int, dict[str, Any]]:
    ids = [investor.id for investor in investors]
    rows = session.execute(
        select(Interaction.actor_id, Startup.external_id)
        .join(Startup, Startup.id == Interaction.target_id)
        .where(
            Interaction.kind == InteractionKind.invested,
            Interaction.actor_kind == EntityKind.investor,
            Interaction.target_kind == EntityKind.startup,
            Interaction.actor_id.in_(ids),
        )
        .order_by(Interaction.occurred_at, Interaction.id)
    ).all()
    portfolio: dict[int, dict[str, Any]] = {row_id: {"portfolio": []} for row_id in ids}
    for investor_id, startup_external_id in rows:
        if startup_external_id not in portfolio[investor_id]["portfolio"]:
            portfolio[investor_id]["portfolio"].append(startup_external_id)
    return portfolio


def _read_interaction_ends(refs: ExternalIds, interaction: Interaction) -> dict[str, Any]:
    return {
        "actor_external_id": refs.external_id(interaction.actor_kind, interaction.actor_id),
        "target_external_id": refs.external_id(interaction.target_kind, interaction.target_id),
    }


def _write_interaction_ends(context: WriteContext, interaction: Interaction, model: BaseModel) -> None:
    data = model.model_dump()
    interaction.actor_id = context.refs.row_id(
        data["actor_kind"], data["actor_external_id"], field="actor_external_id"
    )
    interaction.target_id = context.refs.row_id(
        data["target_kind"], data["target_external_id"], field="target_external_id"
    )


# --- the specs ------------------------------------------------------------------------

_NAME = FilterField(str, "name", "search", "Part of the name.")
_ACTIVE = FilterField(bool, "active")
_DISTRICT = FilterField(s.DistrictCode, "district", description="District or zone (code, 中文 or English).")
_INDUSTRY = FilterField(s.IndustryCode, "industries", "contains", "Industry (code, 中文 or English).")

KINDS: dict[str, KindSpec] = {
    spec.slug: spec
    for spec in (
        KindSpec(
            slug="persons",
            entity=EntityKind.person,
            table=Person,
            create=s.PersonCreate,
            update=s.PersonUpdate,
            public=s.PersonPublic,
            id_prefix="P",
            filters={
                "q": _NAME,
                "role": FilterField(PersonRole, "role"),
                "card_tier": FilterField(CardTier, "card_tier"),
                "major": FilterField(str, "major"),
                "degree": FilterField(Degree, "degree"),
                "industry": _INDUSTRY,
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
            write_extra=_write_contact,
            write_only=frozenset({"phone", "email", "id_number"}),
        ),
        KindSpec(
            slug="startups",
            entity=EntityKind.startup,
            table=Startup,
            create=s.StartupCreate,
            update=s.StartupUpdate,
            public=s.StartupPublic,
            id_prefix="S",
            filters={
                "q": _NAME,
                "industry": _INDUSTRY,
                "stage": FilterField(s.StageCode, "stage", description="Stage (code, 中文 or English)."),
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
            read_extra=_read_team,
            write_extra=_write_team,
        ),
        KindSpec(
            slug="investors",
            entity=EntityKind.investor,
            table=Investor,
            create=s.InvestorCreate,
            update=s.InvestorUpdate,
            public=s.InvestorPublic,
            id_prefix="I",
            filters={
                "q": _NAME,
                "investor_type": FilterField(InvestorType, "investor_type"),
                "industry": _INDUSTRY,
                "stage": FilterField(s.StageCode, "stages", "contains", "A stage it invests in."),
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
            references={"partner_external_id": (EntityKind.person, "partner_id")},
            public_extra=_portfolios,
        ),
        KindSpec(
            slug="mentors",
            entity=EntityKind.mentor,
            table=Mentor,
            create=s.MentorCreate,
            update=s.MentorUpdate,
            public=s.MentorPublic,
            id_prefix="M",
            filters={
                "q": _NAME,
                "industry": _INDUSTRY,
                "expertise": FilterField(str, "expertise", "contains"),
                "language": FilterField(str, "languages", "contains"),
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
            references={"person_external_id": (EntityKind.person, "person_id")},
        ),
        KindSpec(
            slug="spaces",
            entity=EntityKind.space,
            table=Space,
            create=s.SpaceCreate,
            update=s.SpaceUpdate,
            public=s.SpacePublic,
            id_prefix="SP",
            filters={
                "q": _NAME,
                "space_type": FilterField(SpaceType, "space_type"),
                "industry": _INDUSTRY,
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
            references={"operator_external_id": (EntityKind.person, "operator_id")},
        ),
        KindSpec(
            slug="practice-bases",
            entity=EntityKind.practice_base,
            table=PracticeBase,
            create=s.PracticeBaseCreate,
            update=s.PracticeBaseUpdate,
            public=s.PracticeBasePublic,
            id_prefix="PB",
            filters={
                "q": _NAME,
                "industry": _INDUSTRY,
                "major": FilterField(str, "majors_wanted", "contains", "A major it wants."),
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
            references={"operator_external_id": (EntityKind.person, "operator_id")},
        ),
        KindSpec(
            slug="posts",
            entity=EntityKind.post,
            table=RdPost,
            create=s.PostCreate,
            update=s.PostUpdate,
            public=s.PostPublic,
            id_prefix="RD",
            filters={
                "q": _NAME,
                "post_type": FilterField(PostType, "post_type"),
                "industry": FilterField(s.IndustryCode, "industry"),
                "skill": FilterField(str, "skills", "contains"),
                "district": _DISTRICT,
                "active": _ACTIVE,
            },
        ),
        KindSpec(
            slug="interactions",
            table=Interaction,
            create=s.InteractionCreate,
            update=s.InteractionUpdate,
            public=s.InteractionPublic,
            id_prefix="X",
            filters={
                "kind": FilterField(InteractionKind, "kind"),
                "actor_kind": FilterField(EntityKind, "actor_kind"),
                "actor_id": FilterField(s.RowRef, "actor_id"),
                "target_kind": FilterField(EntityKind, "target_kind"),
                "target_id": FilterField(s.RowRef, "target_id"),
            },
            read_extra=_read_interaction_ends,
            write_extra=_write_interaction_ends,
        ),
    )
}

KIND_OF_ENTITY: dict[EntityKind, KindSpec] = {spec.entity: spec for spec in KINDS.values() if spec.entity}

# Profiles before what refers to them: each kind's references point to kinds listed earlier in
# KINDS (checked below), and interactions, which may refer to any profile, come last.
IMPORT_ORDER: tuple[str, ...] = tuple(KINDS)

# Who runs a profile: the column naming its person (an investor's partner, a space's operator …).
PERSON_COLUMNS: dict[EntityKind, str] = {
    spec.entity: column
    for spec in KINDS.values()
    if spec.entity is not None
    for kind, column in spec.references.values()
    if kind is EntityKind.person
}


def _check_import_order() -> None:
    seen: set[EntityKind] = set()
    for spec in KINDS.values():
        later = {kind for kind, _ in spec.references.values()} - seen
        if later:
            raise RuntimeError(f"KINDS: {spec.slug} refers to {sorted(later)} listed after it")
        if spec.entity is not None:
            seen.add(spec.entity)


_check_import_order()


def kind_spec(name: str) -> KindSpec:
    """Look a kind up by its slug ("practice-bases") or entity name ("practice_base")."""
    normalized = name.strip().lower().replace("_", "-")
    for spec in KINDS.values():
        singular = spec.entity.value.replace("_", "-") if spec.entity else "interaction"
        if normalized in (spec.slug, singular):
            return spec
    raise ValueError(f"unknown kind '{name}'; choose one of: {', '.join(KINDS)}")
