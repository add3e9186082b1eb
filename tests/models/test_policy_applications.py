"""Policy applications in storage, on SQLite and PostgreSQL: the trail, repeats, counts, deletion."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.enums import EntityKind, InteractionKind
from models.kinds import KINDS
from models.policy_applications import (
    Applicant,
    ApplicationConflictError,
    ApplicationStatus,
    applicant_ids,
    decide,
    status_counts,
    submit,
)
from models.repository import Repository
from models.tables import Interaction, PolicyApplication
from tests.conftest import TEST_SECRET
from tests.factories import samples


def _startup(factory: sessionmaker[Session]) -> int:
    with factory() as session, session.begin():
        repository = Repository(session, secret=TEST_SECRET)
        for slug in ("persons", "startups"):
            spec = KINDS[slug]
            row = repository.create(spec, spec.create.model_validate(samples()[slug][0]))
        return int(row.id)


def test_an_application_keeps_its_trail_and_is_an_interaction(factory: sessionmaker[Session]) -> None:
    applicant = Applicant(EntityKind.startup, _startup(factory))
    with factory() as session, session.begin():
        application = submit(
            session, policy_id="series-a-talent-pay", policy_version=3, applicant=applicant, account_id=None
        )
        with pytest.raises(ApplicationConflictError):
            submit(
                session,
                policy_id="series-a-talent-pay",
                policy_version=3,
                applicant=applicant,
                account_id=None,
            )
        with pytest.raises(ApplicationConflictError):
            decide(session, application, ApplicationStatus.granted, reason="", account_id=None)
        decide(session, application, ApplicationStatus.under_review, reason="", account_id=7)
        with pytest.raises(ValueError, match="reason"):
            decide(session, application, ApplicationStatus.refused, reason=" ", account_id=7)
        decide(session, application, ApplicationStatus.refused, reason="材料不全", account_id=7)
    with factory() as session:
        stored = session.scalars(select(PolicyApplication)).one()
        assert (stored.policy_version, stored.status) == (3, "refused")
        assert [(e.status, e.reason) for e in stored.events] == [
            ("submitted", ""),
            ("under_review", ""),
            ("refused", "材料不全"),
        ]
        interaction = session.scalars(
            select(Interaction).where(Interaction.kind == InteractionKind.policy_applied)
        ).one()
        assert (interaction.actor_id, interaction.target_id, interaction.note) == (
            applicant.id,
            applicant.id,
            "series-a-talent-pay v3",
        )
        assert applicant_ids(session, "series-a-talent-pay", EntityKind.startup) == {applicant.id}
        assert status_counts(session) == {("series-a-talent-pay", "refused"): 1}
    with factory() as session, session.begin():  # after a refusal, a new application stands
        submit(
            session, policy_id="series-a-talent-pay", policy_version=3, applicant=applicant, account_id=None
        )


def test_deleting_the_applicant_deletes_its_applications_and_trail(factory: sessionmaker[Session]) -> None:
    applicant = Applicant(EntityKind.startup, _startup(factory))
    with factory() as session, session.begin():
        submit(session, policy_id="listing-reward", policy_version=1, applicant=applicant, account_id=None)
    with factory() as session, session.begin():
        Repository(session, secret=TEST_SECRET).delete(KINDS["startups"], applicant.id)
    with factory() as session:
        assert session.scalars(select(PolicyApplication)).all() == []
