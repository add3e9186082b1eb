"""Applications for the plan's policies and their status trail.

submitted → under_review → granted | refused (a refusal states its reason). Each application is
also an interaction of kind ``policy_applied`` (the applicant at both ends, the policy in the
note), so everything that counts interactions counts applications too.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.enums import EntityKind, InteractionKind
from models.tables import Interaction, PolicyApplication, PolicyApplicationEvent


class ApplicationStatus(StrEnum):
    submitted = "submitted"
    under_review = "under_review"
    granted = "granted"
    refused = "refused"


NEXT_STATUSES: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    ApplicationStatus.submitted: frozenset({ApplicationStatus.under_review}),
    ApplicationStatus.under_review: frozenset({ApplicationStatus.granted, ApplicationStatus.refused}),
    ApplicationStatus.granted: frozenset(),
    ApplicationStatus.refused: frozenset(),
}
# While one of these stands, the profile may not apply again (after a refusal it may).
STANDING = frozenset({ApplicationStatus.submitted, ApplicationStatus.under_review, ApplicationStatus.granted})


class ApplicationConflictError(ValueError):
    """An application or a decision the current state does not allow."""


@dataclass(frozen=True)
class Applicant:
    kind: EntityKind
    id: int


def standing_application(session: Session, policy_id: str, applicant: Applicant) -> PolicyApplication | None:
    return session.scalars(
        select(PolicyApplication).where(
            PolicyApplication.policy_id == policy_id,
            PolicyApplication.applicant_kind == applicant.kind,
            PolicyApplication.applicant_id == applicant.id,
            PolicyApplication.status.in_([s.value for s in STANDING]),
        )
    ).first()


def submit(
    session: Session,
    *,
    policy_id: str,
    policy_version: int,
    applicant: Applicant,
    account_id: int | None,
    note: str = "",
    now: dt.datetime | None = None,
) -> PolicyApplication:
    """A new application (the caller has checked eligibility against ``policy_version``)."""
    if standing_application(session, policy_id, applicant) is not None:
        raise ApplicationConflictError(
            f"{applicant.kind.value} {applicant.id} has already applied for {policy_id}"
        )
    when = now or dt.datetime.now(dt.UTC)
    application = PolicyApplication(
        policy_id=policy_id,
        policy_version=policy_version,
        applicant_kind=applicant.kind,
        applicant_id=applicant.id,
        status=ApplicationStatus.submitted.value,
        note=note,
    )
    application.events.append(
        PolicyApplicationEvent(
            status=ApplicationStatus.submitted.value, account_id=account_id, occurred_at=when
        )
    )
    session.add(application)
    session.flush()
    session.add(
        Interaction(
            external_id=f"policy-application-{application.id}",
            actor_kind=applicant.kind,
            actor_id=applicant.id,
            target_kind=applicant.kind,
            target_id=applicant.id,
            kind=InteractionKind.policy_applied,
            occurred_at=when,
            note=f"{policy_id} v{policy_version}",
        )
    )
    return application


def decide(
    session: Session,
    application: PolicyApplication,
    status: ApplicationStatus,
    *,
    reason: str,
    account_id: int | None,
    now: dt.datetime | None = None,
) -> PolicyApplication:
    """Move an application on; a refusal needs a reason."""
    current = ApplicationStatus(application.status)
    if status not in NEXT_STATUSES[current]:
        allowed = ", ".join(sorted(NEXT_STATUSES[current])) or "nothing (it is final)"
        raise ApplicationConflictError(
            f"an application {current.value} can move to {allowed}, not {status.value}"
        )
    if status is ApplicationStatus.refused and not reason.strip():
        raise ValueError("reason: a refusal states its reason")
    application.status = status.value
    application.events.append(
        PolicyApplicationEvent(
            status=status.value,
            reason=reason.strip(),
            account_id=account_id,
            occurred_at=now or dt.datetime.now(dt.UTC),
        )
    )
    session.flush()
    return application


def applicant_ids(session: Session, policy_id: str, kind: EntityKind) -> set[int]:
    """Profiles that applied for ``policy_id``, whatever became of it."""
    return set(
        session.scalars(
            select(PolicyApplication.applicant_id).where(
                PolicyApplication.policy_id == policy_id, PolicyApplication.applicant_kind == kind
            )
        )
    )


def applications_of(session: Session, applicant: Applicant) -> list[PolicyApplication]:
    return list(
        session.scalars(
            select(PolicyApplication)
            .where(
                PolicyApplication.applicant_kind == applicant.kind,
                PolicyApplication.applicant_id == applicant.id,
            )
            .order_by(PolicyApplication.id)
        )
    )


def status_counts(
    session: Session, *, made_between: tuple[dt.datetime, dt.datetime] | None = None
) -> Counter[tuple[str, str]]:
    """(policy id, status) -> applications: what a dashboard shows per policy; with
    ``made_between`` (start, end), only the applications made in that period, by where they
    stand now."""
    query = select(PolicyApplication.policy_id, PolicyApplication.status)
    if made_between is not None:
        start, end = made_between
        query = query.where(PolicyApplication.created_at >= start, PolicyApplication.created_at < end)
    return Counter((policy_id, status) for policy_id, status in session.execute(query))
