"""Policy matching as services: what the HTTP routes, the CLI and the portal's pages call.

Every function reads the live catalogue (the one the matcher keeps in step with each write),
so a profile's policies change as soon as the profile does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from matcher.catalog import Catalog
from matcher.policies import PolicyCheck, Status, check_record, eligible_ids, today_in_wuhan
from models.enums import EntityKind
from models.policies import Benefit, Policy, PolicySet, Section, Text, Window
from models.policy_applications import (
    Applicant,
    ApplicationStatus,
    applicant_ids,
    submit,
)
from models.policy_fields import AREA_NAMES
from models.spreadsheets import CSV_MEDIA, XLSX_MEDIA, csv_bytes, xlsx_bytes
from models.tables import PolicyApplication

ExportFormat = Literal["csv", "xlsx"]


# --- public shapes -----------------------------------------------------------------------


class CriterionPublic(BaseModel):
    path: str
    label: Text
    fixed: bool = Field(description="The applicant cannot change it (age, a past date, a type).")


class PolicyPublic(BaseModel):
    id: str
    version: int
    title: Text
    summary: Text
    section: Section
    units: list[str] = Field(description="Issuing units (责任单位), as the plan names them.")
    audience: EntityKind
    documents: list[Text]
    window: Window
    benefits: list[Benefit]
    configurable: bool = Field(description="Some amount is left to the programme: the plan names none.")
    value_cny: int = Field(description="What ordering by value counts: amounts and caps set, in CNY.")
    criteria: list[CriterionPublic]


class CriterionCheckPublic(BaseModel):
    path: str
    label: Text
    met: bool
    known: bool = Field(description="False when the profile has not filled in the field it reads.")
    fixed: bool
    value: Text | None = Field(description="What the profile holds, where one field decides.")
    hint: Text | None = Field(description="For an unmet criterion: what would change it.")


class PolicyCheckPublic(BaseModel):
    policy_id: str
    policy_version: int
    title: Text
    status: Status
    value_cny: int
    criteria: list[CriterionCheckPublic]
    unmet: list[CriterionCheckPublic]


class ProfilePolicies(BaseModel):
    kind: EntityKind
    id: int
    checked_on: dt.date
    items: list[PolicyCheckPublic]


class EligibleProfile(BaseModel):
    id: int
    external_id: str
    name: str
    district: str | None


class EligiblePage(BaseModel):
    policy_id: str
    policy_version: int
    checked_on: dt.date
    total: int
    items: list[EligibleProfile]


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    applicant_kind: EntityKind
    applicant_id: int = Field(ge=1, le=2**63 - 1)
    note: str = Field(default="", max_length=2000)


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: Literal["under_review", "granted", "refused"]
    reason: str = Field(default="", max_length=2000, description="Required for a refusal.")


class ApplicationEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: ApplicationStatus
    reason: str
    account_id: int | None
    occurred_at: dt.datetime


class ApplicationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    policy_id: str
    policy_version: int = Field(description="The policy version eligibility was checked against.")
    applicant_kind: EntityKind
    applicant_id: int
    status: ApplicationStatus
    note: str
    created_at: dt.datetime
    events: list[ApplicationEventPublic]


def policy_public(policy: Policy) -> PolicyPublic:
    return PolicyPublic(
        id=policy.id,
        version=policy.version,
        title=policy.title,
        summary=policy.summary,
        section=policy.section,
        units=list(policy.units),
        audience=policy.audience,
        documents=list(policy.documents),
        window=policy.window,
        benefits=list(policy.benefits),
        configurable=policy.configurable,
        value_cny=policy.value_cny,
        criteria=[CriterionPublic(path=c.path, label=c.label, fixed=c.fixed) for c in policy.criteria],
    )


def check_public(check: PolicyCheck) -> PolicyCheckPublic:
    criteria = [CriterionCheckPublic.model_validate(c, from_attributes=True) for c in check.criteria]
    return PolicyCheckPublic(
        policy_id=check.policy.id,
        policy_version=check.version,
        title=check.policy.title,
        status=check.status,
        value_cny=check.policy.value_cny,
        criteria=criteria,
        unmet=[c for c in criteria if not c.met],
    )


# --- services ----------------------------------------------------------------------------


def policies_for_profile(
    policies: PolicySet, catalog: Catalog, kind: EntityKind, row_id: int, *, today: dt.date | None = None
) -> list[PolicyCheck]:
    """Every policy for this profile's kind: eligible first (by value), then almost, then the rest."""
    table = catalog.tables[kind]
    if not table.has_slot(row_id):
        raise LookupError(f"no {kind.value} with id {row_id}")
    return check_record(
        policies.policies.values(), catalog, kind, table.record(row_id), today or today_in_wuhan()
    )


def eligible_not_applied(
    policy: Policy, catalog: Catalog, session: Session, *, today: dt.date | None = None
) -> list[EligibleProfile]:
    """免申即享: every visible profile eligible for ``policy`` that has not applied for it."""
    applied = applicant_ids(session, policy.id, policy.audience)
    table = catalog.tables[policy.audience]
    ids = eligible_ids(policy, catalog, today or today_in_wuhan(), exclude=applied)
    return [_eligible_profile(table.record(int(i))) for i in ids]


def _eligible_profile(record: dict[str, Any]) -> EligibleProfile:
    return EligibleProfile(
        id=int(record["id"]),
        external_id=str(record.get("external_id", "")),
        name=str(record.get("name", "")),
        district=record.get("district"),
    )


def apply_for(
    policies: PolicySet,
    catalog: Catalog,
    session: Session,
    policy_id: str,
    body: ApplicationCreate,
    *,
    account_id: int | None,
    today: dt.date | None = None,
) -> tuple[PolicyCheck, PolicyApplication | None]:
    """The applicant's check and, when eligible, the application (not committed)."""
    policy = policies.get(policy_id)
    if policy.audience is not body.applicant_kind:
        raise ValueError(f"applicant_kind: {policy_id} is for {policy.audience.value} profiles")
    table = catalog.tables[body.applicant_kind]
    if not table.has_slot(body.applicant_id):
        raise LookupError(f"no {body.applicant_kind.value} with id {body.applicant_id}")
    check = check_record(
        [policy], catalog, policy.audience, table.record(body.applicant_id), today or today_in_wuhan()
    )[0]
    if check.status != "eligible":
        return check, None
    application = submit(
        session,
        policy_id=policy.id,
        policy_version=policy.version,
        applicant=Applicant(body.applicant_kind, body.applicant_id),
        account_id=account_id,
        note=body.note,
    )
    return check, application


def unmet_message(check: PolicyCheck) -> str:
    unmet = "; ".join(f"{c.label.zh} / {c.label.en}" for c in check.unmet)
    return f"not eligible for {check.policy.id} (v{check.version}): unmet: {unmet}"


# --- export for staff ----------------------------------------------------------------------

EXPORT_HEADER = ("id", "external_id", "name", "district", "区域")


def _rows(profiles: Iterable[EligibleProfile]) -> Iterable[tuple[Any, ...]]:
    for p in profiles:
        area = AREA_NAMES.get(p.district or "", ("", ""))[0]
        yield (p.id, p.external_id, p.name, p.district or "", area)


def export_eligible(profiles: Sequence[EligibleProfile], fmt: ExportFormat) -> tuple[bytes, str]:
    """The list as a file staff open in a spreadsheet, with its media type."""
    if fmt == "xlsx":
        return xlsx_bytes(EXPORT_HEADER, _rows(profiles)), XLSX_MEDIA
    return csv_bytes(EXPORT_HEADER, _rows(profiles)), CSV_MEDIA
