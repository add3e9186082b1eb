"""Pydantic schemas, split as Create (what a client sends), Update (a partial Create) and
Public (what anyone may read).

References to other entities are by ``external_id`` everywhere, so the same schema serves
the API, bulk import and export, and a file exported from one database imports into another.
Personal contact data is write-only: no Public schema has a field for it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    create_model,
    model_validator,
)

# BEIJING is re-exported: modules written before models/clock.py import it from here.
from models.clock import BEIJING as BEIJING
from models.clock import beijing_now, in_beijing
from models.enums import (
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
from models.formats import parse_date, parse_money_cny
from models.identity import EMAIL_PATTERN, PHONE_PATTERN, validate_email, validate_id_number, validate_phone
from models.places import resolve_location
from models.taxonomy import ANYWHERE, normalize_area, normalize_industry, normalize_stage
from models.vocabularies import enum_synonyms

T = TypeVar("T")
MAX_MONEY_CNY = 10**13
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d")


def _dedupe(values: list[T]) -> list[T]:
    return list(dict.fromkeys(values))


def _not_anywhere(code: str) -> str:
    if code == ANYWHERE:
        raise ValueError("a profile's own district must be a real district or zone, not 'anywhere'")
    return code


def _anywhere_alone(codes: list[str]) -> list[str]:
    # "anywhere" already covers every district; keeping others beside it would be ambiguous.
    return [ANYWHERE] if ANYWHERE in codes or not codes else codes


def _money_input(value: Any) -> Any:
    return parse_money_cny(value) if isinstance(value, str) else value


def _date_input(value: Any) -> Any:
    return parse_date(value) if isinstance(value, str) else value


def _timestamp_input(value: Any) -> Any:
    # A day alone (2019/3/1, 2019年3月1日 …) is that day's Beijing midnight; a full ISO
    # timestamp is left to pydantic, which keeps its time and offset.
    if isinstance(value, str) and not _ISO_TIMESTAMP.match(value.strip()):
        return dt.datetime.combine(parse_date(value), dt.time(), tzinfo=BEIJING)
    return value


def _assume_beijing_time(value: dt.datetime) -> dt.datetime:
    # Programme staff write local (Beijing) times; any offset given is echoed as Beijing time.
    return in_beijing(value)


ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[\w.:\-]{1,64}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TagList = Annotated[list[Tag], Field(max_length=50), AfterValidator(_dedupe)]
# Numbers and flags are strict, so in JSON `true` is no number and `0` no boolean; imports of
# text files validate laxly (Repository.merged passes strict=False), so a CSV cell "3" reads as 3.
# Money is whole yuan; text in a file or request may say it as people do (1,500,000, 500万,
# 1.5亿, USD 1,500,000: other currencies at models/formats.py's fixed rates).
Money = Annotated[int, BeforeValidator(_money_input), Strict(), Field(ge=0, le=MAX_MONEY_CNY)]
Day = Annotated[dt.date, BeforeValidator(_date_input)]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]
Flag = Annotated[bool, Strict()]
# Row ids are 64-bit integers in both databases; a larger one cannot name a row.
MAX_ROW_ID = 2**63 - 1
RowRef = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
IndustryCode = Annotated[str, AfterValidator(normalize_industry)]
IndustryList = Annotated[list[IndustryCode], Field(max_length=20), AfterValidator(_dedupe)]
StageCode = Annotated[str, AfterValidator(normalize_stage)]
StageList = Annotated[list[StageCode], Field(max_length=20), AfterValidator(_dedupe)]
DistrictCode = Annotated[str, AfterValidator(normalize_area), AfterValidator(_not_anywhere)]
DistrictList = Annotated[
    list[Annotated[str, AfterValidator(normalize_area)]],
    Field(max_length=30),
    AfterValidator(_dedupe),
    AfterValidator(_anywhere_alone),
]
IdNumber = Annotated[str, AfterValidator(validate_id_number)]
# The pattern stays in the OpenAPI document for clients; a refusal says the rule in words.
Phone = Annotated[
    str, AfterValidator(validate_phone), WithJsonSchema({"type": "string", "pattern": PHONE_PATTERN})
]
Timestamp = Annotated[dt.datetime, BeforeValidator(_timestamp_input), AfterValidator(_assume_beijing_time)]
Email = Annotated[
    str, AfterValidator(validate_email), WithJsonSchema({"type": "string", "pattern": EMAIL_PATTERN})
]
PlaceText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _by_synonym(vocabulary: str) -> BeforeValidator:
    """Accepts an enum's Chinese or English label or synonym (models/data/labels.toml) as its code."""
    index = enum_synonyms(vocabulary)

    def to_code(value: Any) -> Any:
        return (index.get(value) or value) if isinstance(value, str) else value

    return BeforeValidator(to_code)


PersonRoleCode = Annotated[PersonRole, _by_synonym("person-roles")]
CardTierCode = Annotated[CardTier, _by_synonym("card-tiers")]
DegreeCode = Annotated[Degree, _by_synonym("degrees")]
MemberRoleCode = Annotated[MemberRole, _by_synonym("member-roles")]
InvestorTypeCode = Annotated[InvestorType, _by_synonym("investor-types")]
SpaceTypeCode = Annotated[SpaceType, _by_synonym("space-types")]
PostTypeCode = Annotated[PostType, _by_synonym("post-types")]
InteractionKindCode = Annotated[InteractionKind, _by_synonym("interaction-kinds")]


class CreateSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: ExternalId | None = Field(
        default=None, description="Your own stable id; generated when omitted. Imports upsert by it."
    )


class PublicSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ProfileFields(BaseModel):
    name: Name
    country: PlaceText | None = Field(
        default=None,
        description="ISO code (CN, US, IN) or a name in any language; unknown ones kept as given.",
    )
    province: PlaceText | None = Field(
        default=None,
        description="A Chinese province (湖北, Hubei) or a state (CA); unknown ones kept as given.",
    )
    city: PlaceText | None = Field(
        default=None,
        description="Any city in any language (武汉, Wuhan, Bangalore) or a whole address "
        "(湖北省武汉市洪山区, 'Palo Alto, CA, USA'); it fills the other parts. Unknown ones kept as given.",
    )
    district: DistrictCode | None = Field(
        default=None, description="A district or development zone of Wuhan (洪山区, 光谷); implies Wuhan."
    )
    active: Flag = True
    consent_matching: Flag = Field(default=True, description="Consent to be matched (PIPL Art. 29).")

    @model_validator(mode="after")
    def _one_location(self) -> Self:
        location = resolve_location(
            country=self.country, province=self.province, city=self.city, district=self.district
        )
        self.country, self.province = location.country, location.province
        self.city, self.district = location.city, location.district
        return self


def _check_not_above(model: BaseModel, part: str, whole: str) -> None:
    part_value, whole_value = getattr(model, part), getattr(model, whole)
    if part_value is not None and whole_value is not None and part_value > whole_value:
        raise ValueError(f"{part} ({part_value}) must not exceed {whole} ({whole_value})")


# --- person ---------------------------------------------------------------------------


class PersonFields(ProfileFields):
    role: PersonRoleCode
    card_tier: CardTierCode = CardTier.none
    bio: LongText = ""
    skills: TagList = []
    industries: IndustryList = []
    languages: TagList = []
    university: ShortText | None = None
    major: Tag | None = None
    degree: DegreeCode = Degree.none
    graduation_year: Annotated[int, Strict(), Field(ge=1950, le=2100)] | None = None
    birth_year: Annotated[int, Strict(), Field(ge=1900, le=2100)] | None = Field(
        default=None, description="Policies for young talent (青年) read the age from it."
    )
    hukou: Hukou | None = Field(default=None, description="Where the household registration (户口) is.")
    returnee: Flag = Field(default=False, description="Came back to Wuhan to work or found (楚才回家).")


class PersonCreate(CreateSchema, PersonFields):
    phone: Phone | None = Field(default=None, description="Write-only personal data.")
    email: Email | None = Field(default=None, description="Write-only personal data.")
    id_number: IdNumber | None = Field(
        default=None, description="18-digit resident ID; checked, then kept only as a keyed hash and a mask."
    )


class PersonPublic(PublicSchema, PersonFields):
    pass


# --- startup --------------------------------------------------------------------------


class TeamMember(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    person_external_id: ExternalId
    role: MemberRoleCode = MemberRole.member


SeekingKind = Literal["investor", "mentor", "space", "practice_base", "post"]


class StartupFields(ProfileFields):
    one_liner: ShortText = ""
    description: LongText = ""
    industries: Annotated[IndustryList, Field(min_length=1)]
    stage: StageCode
    funding_ask_cny: Money | None = None
    founded_on: Day | None = None
    seeking: Annotated[list[SeekingKind], AfterValidator(_dedupe)] = []
    headcount: Annotated[int, Strict(), Field(ge=0, le=1_000_000)] | None = None
    funding_received_cny: Money | None = Field(default=None, description="Equity funding raised so far.")
    team: Annotated[list[TeamMember], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _team_unique(self) -> Self:
        ids = [member.person_external_id for member in self.team]
        if len(ids) != len(set(ids)):
            raise ValueError("team lists the same person twice")
        return self


class StartupCreate(CreateSchema, StartupFields):
    pass


class StartupPublic(PublicSchema, StartupFields):
    pass


# --- investor -------------------------------------------------------------------------


class InvestorFields(ProfileFields):
    investor_type: InvestorTypeCode
    thesis: LongText = ""
    industries: IndustryList = []
    stages: StageList = []
    ticket_min_cny: Money = 0
    ticket_max_cny: Money | None = Field(default=None, description="None means no upper bound.")
    districts: DistrictList = Field(default=[ANYWHERE], description="Districts it invests in, or 'anywhere'.")
    deals_per_quarter: Annotated[int, Strict(), Field(ge=0, le=1000)] = 4
    partner_external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _ticket_range(self) -> Self:
        _check_not_above(self, "ticket_min_cny", "ticket_max_cny")
        return self


class InvestorCreate(CreateSchema, InvestorFields):
    pass


class InvestorPublic(PublicSchema, InvestorFields):
    portfolio: list[str] = Field(default=[], description="External ids of startups it invested in.")


# --- mentor ---------------------------------------------------------------------------


class MentorFields(ProfileFields):
    person_external_id: ExternalId | None = None
    bio: LongText = ""
    expertise: TagList = []
    industries: IndustryList = []
    languages: TagList = ["zh"]
    max_mentees: Annotated[int, Strict(), Field(ge=0, le=100)] = 3
    current_mentees: Annotated[int, Strict(), Field(ge=0, le=100)] = 0

    @model_validator(mode="after")
    def _load(self) -> Self:
        _check_not_above(self, "current_mentees", "max_mentees")
        return self


class MentorCreate(CreateSchema, MentorFields):
    pass


class MentorPublic(PublicSchema, MentorFields):
    pass


# --- space ----------------------------------------------------------------------------


class SpaceFields(ProfileFields):
    space_type: SpaceTypeCode
    district: DistrictCode
    description: LongText = ""
    industries: IndustryList = []
    seats_total: Count
    seats_vacant: Count
    services: TagList = []
    monthly_fee_cny: Money = 0
    monthly_subsidy_cny: Money = 0
    admission_criteria: LongText = ""
    operator_external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _seats(self) -> Self:
        _check_not_above(self, "seats_vacant", "seats_total")
        return self


class SpaceCreate(CreateSchema, SpaceFields):
    pass


class SpacePublic(PublicSchema, SpaceFields):
    pass


# --- practice base --------------------------------------------------------------------


class PracticeBaseFields(ProfileFields):
    enterprise_name: Name
    district: DistrictCode
    description: LongText = ""
    industries: IndustryList = []
    majors_wanted: TagList = []
    slots_total: Count
    slots_free: Count
    period_start: Day | None = None
    period_end: Day | None = None
    operator_external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _slots_and_period(self) -> Self:
        _check_not_above(self, "slots_free", "slots_total")
        _check_not_above(self, "period_start", "period_end")
        return self


class PracticeBaseCreate(CreateSchema, PracticeBaseFields):
    pass


class PracticeBasePublic(PublicSchema, PracticeBaseFields):
    pass


# --- R&D post -------------------------------------------------------------------------


class PostFields(ProfileFields):
    post_type: PostTypeCode
    enterprise_name: Name
    description: LongText = ""
    skills: TagList = []
    industry: IndustryCode
    headcount: Annotated[int, Strict(), Field(ge=1, le=10_000)]
    min_degree: DegreeCode = Degree.none


class PostCreate(CreateSchema, PostFields):
    pass


class PostPublic(PublicSchema, PostFields):
    pass


# --- interaction ----------------------------------------------------------------------

# Realised outcomes only make sense between certain kinds; the graph relies on it.
OUTCOME_PAIRS: dict[InteractionKind, frozenset[tuple[EntityKind, EntityKind]]] = {
    InteractionKind.invested: frozenset({(EntityKind.investor, EntityKind.startup)}),
    InteractionKind.admitted: frozenset(
        {(EntityKind.space, EntityKind.startup), (EntityKind.space, EntityKind.person)}
    ),
    InteractionKind.mentored: frozenset(
        {(EntityKind.mentor, EntityKind.startup), (EntityKind.mentor, EntityKind.person)}
    ),
    InteractionKind.placed: frozenset(
        {(EntityKind.practice_base, EntityKind.person), (EntityKind.post, EntityKind.person)}
    ),
}


class InteractionFields(BaseModel):
    actor_kind: EntityKind
    actor_external_id: ExternalId
    target_kind: EntityKind
    target_external_id: ExternalId
    kind: InteractionKindCode
    occurred_at: Timestamp = Field(
        default_factory=beijing_now,
        description="Without an offset, Beijing time is assumed.",
    )
    amount_cny: Money | None = None
    note: LongText = ""

    @model_validator(mode="after")
    def _pair_allowed(self) -> Self:
        same = (self.actor_kind, self.actor_external_id) == (self.target_kind, self.target_external_id)
        if self.kind is InteractionKind.policy_applied and not same:
            raise ValueError("a policy application names the applicant as both actor and target")
        if same and self.kind is not InteractionKind.policy_applied:
            raise ValueError("actor and target are the same profile")
        allowed = OUTCOME_PAIRS.get(self.kind)
        if allowed is not None and (self.actor_kind, self.target_kind) not in allowed:
            pairs = ", ".join(sorted(f"{a.value}→{t.value}" for a, t in allowed))
            raise ValueError(
                f"'{self.kind.value}' must go {pairs}, not {self.actor_kind.value}→{self.target_kind.value}"
            )
        return self


class InteractionCreate(CreateSchema, InteractionFields):
    pass


class InteractionPublic(PublicSchema, InteractionFields):
    actor_id: int
    target_id: int


# --- updates --------------------------------------------------------------------------


def partial_model(create: type[BaseModel], *, name: str) -> type[BaseModel]:
    """An Update schema: every Create field optional, nothing unknown accepted.

    Field-level checks travel with the field types; model-level checks (ranges such as
    seats_vacant ≤ seats_total) run when the stored profile merged with the update is
    validated against the Create schema again.
    """
    fields: dict[str, Any] = {
        field_name: (
            _with_metadata(info.annotation, info.metadata) | None,
            Field(default=None, description=info.description),
        )
        for field_name, info in create.model_fields.items()
        if field_name != "external_id"
    }
    model: type[BaseModel] = create_model(
        name, __config__=ConfigDict(extra="forbid", str_strip_whitespace=True), **fields
    )
    return model


def _with_metadata(annotation: Any, metadata: list[Any]) -> Any:
    # Constraints such as max_length live in the FieldInfo's metadata, not in the annotation.
    return Annotated[(annotation, *metadata)] if metadata else annotation


def _update_of(create: type[BaseModel]) -> type[BaseModel]:
    return partial_model(create, name=create.__name__.replace("Create", "Update"))


PersonUpdate = _update_of(PersonCreate)
StartupUpdate = _update_of(StartupCreate)
InvestorUpdate = _update_of(InvestorCreate)
MentorUpdate = _update_of(MentorCreate)
SpaceUpdate = _update_of(SpaceCreate)
PracticeBaseUpdate = _update_of(PracticeBaseCreate)
PostUpdate = _update_of(PostCreate)


class InteractionUpdate(BaseModel):
    """Only the annotation of an interaction may change; who did what to whom, when, may not."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount_cny: Money | None = None
    note: LongText | None = None
