"""Stored rounds on SQLite and PostgreSQL: the status flow, checks that name the field, and a
publication that is all or nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from models.enums import InteractionKind
from models.kinds import KINDS
from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError, Repository
from models.rounds import (
    PairRequest,
    ProposedMatch,
    RoundCreate,
    RoundStatus,
    RoundStore,
    RoundUpdate,
    SolveRequest,
    SolveSettings,
    StableSolve,
)
from models.tables import Interaction, Space
from models.transfer import import_records
from tests.conftest import TEST_SECRET

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def profiles(factory: sessionmaker[Session]) -> None:
    """Three startups and two spaces: SP-1 with 2 vacant seats, SP-2 with 1."""
    startups = [
        {"external_id": f"S-{i}", "name": f"初创{i}", "industries": ["信息技术"], "stage": "天使轮"}
        for i in range(1, 4)
    ]
    spaces = [
        {
            "external_id": f"SP-{i}",
            "name": f"众创空间{i}",
            "space_type": "maker_space",
            "district": "光谷",
            "seats_total": 10,
            "seats_vacant": vacant,
        }
        for i, vacant in ((1, 2), (2, 1))
    ]
    import_records(factory, KINDS["startups"], startups, secret=TEST_SECRET)
    import_records(factory, KINDS["spaces"], spaces, secret=TEST_SECRET)


def _round(**changes: Any) -> RoundCreate:
    body = {
        "name": "光谷 2026 冬季入驻",
        "kind": "space_admission",
        "deadline": "2026-12-01T18:00:00",
        "applicants": [{"external_id": f"S-{i}"} for i in range(1, 4)],
        "counterparts": [{"external_id": "SP-1"}, {"external_id": "SP-2"}],
    }
    return RoundCreate.model_validate(body | changes)


def _store(session: Session) -> RoundStore:
    return RoundStore(Repository(session, secret=TEST_SECRET))


def _created(factory: sessionmaker[Session], **changes: Any) -> int:
    with transaction(factory) as session:
        return _store(session).create(_round(**changes)).id


def _solved_and_reviewed(factory: sessionmaker[Session], round_id: int) -> None:
    """A proposal as a solver would leave it (S-1, S-2 → SP-1; S-3 → SP-2), then reviewed."""
    with transaction(factory) as session:
        store = _store(session)
        ids = store.inputs(round_id)
        matches = [
            ProposedMatch(a, c, 0.5, 1, 1, pinned=False, reasons=[])
            for a, c in zip(ids.applicants, [ids.counterparts[0]] * 2 + [ids.counterparts[1]], strict=True)
        ]
        store.save_proposal(round_id, matches, _report(StableSolve(solver="stable")))
        store.review(round_id)


def _report(request: SolveSettings) -> dict[str, Any]:
    return {"settings": request.model_dump(), "metrics": {}, "fill": [], "unmatched": []}


def _vacancies(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {s.external_id: s.seats_vacant for s in session.scalars(select(Space))}


def _interactions(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Interaction)) or 0


def test_a_round_is_stored_with_capacities_from_the_vacancies(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(
        factory, counterparts=[{"external_id": "SP-1"}, {"external_id": "SP-2", "capacity": 5}]
    )
    with factory() as session:
        public = _store(session).public(_store(session).get(round_id))
    assert public.status is RoundStatus.draft
    assert [(c.external_id, c.capacity) for c in public.counterparts] == [("SP-1", 2), ("SP-2", 5)]
    assert [a.external_id for a in public.applicants] == ["S-1", "S-2", "S-3"]
    assert public.deadline == dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)  # Beijing time assumed


def test_publishing_writes_outcomes_and_takes_places_together(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    _solved_and_reviewed(factory, round_id)
    with transaction(factory) as session:
        published = _store(session).publish(round_id, now=NOW)
    assert len(published.interactions) == 3
    assert {i.kind for i in published.interactions} == {InteractionKind.admitted}
    assert _vacancies(factory) == {"SP-1": 0, "SP-2": 0}
    with factory() as session:
        assert _store(session).get(round_id).status is RoundStatus.published


def test_a_failure_mid_publish_leaves_vacancies_and_interactions_unchanged(
    factory: sessionmaker[Session], profiles: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = _created(factory)
    _solved_and_reviewed(factory, round_id)
    real_update = Repository.update
    calls: list[int] = []

    def update_then_fail(self: Repository, spec: Any, row_id: int, patch: Any) -> Any:
        calls.append(row_id)
        if len(calls) == 2:
            raise RuntimeError("the database went away mid-publish")
        return real_update(self, spec, row_id, patch)

    monkeypatch.setattr(Repository, "update", update_then_fail)
    with pytest.raises(RuntimeError, match="mid-publish"), transaction(factory) as session:
        _store(session).publish(round_id, now=NOW)
    assert len(calls) == 2  # the first space's seats were taken, and interactions written, before it failed
    assert _vacancies(factory) == {"SP-1": 2, "SP-2": 1}
    assert _interactions(factory) == 0
    with factory() as session:
        assert _store(session).get(round_id).status is RoundStatus.reviewed


def test_places_taken_since_solving_stop_the_publication(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    _solved_and_reviewed(factory, round_id)
    with transaction(factory) as session:
        Repository(session, secret=TEST_SECRET).update(
            KINDS["spaces"], 2, KINDS["spaces"].update.model_validate({"seats_vacant": 0})
        )
    with pytest.raises(ConflictError, match="SP-2 has 0 place"), transaction(factory) as session:
        _store(session).publish(round_id, now=NOW)
    assert _vacancies(factory) == {"SP-1": 2, "SP-2": 0}
    assert _interactions(factory) == 0


def test_the_status_flow_refuses_what_it_does_not_allow(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    with transaction(factory) as session:
        store = _store(session)
        with pytest.raises(ConflictError, match="no proposal"):
            store.review(round_id)
        with pytest.raises(ConflictError, match="only a reviewed round"):
            store.publish(round_id, now=NOW)
        with pytest.raises(NotFoundError, match="no proposal yet"):
            store.proposal(round_id)
    _solved_and_reviewed(factory, round_id)
    with transaction(factory) as session:
        _store(session).publish(round_id, now=NOW)
    with transaction(factory) as session:
        store = _store(session)
        for attempt in (
            lambda: store.inputs(round_id),
            lambda: store.update(round_id, RoundUpdate.model_validate({"name": "改名"})),
            lambda: store.decide(round_id, PairRequest(applicant="S-1", counterpart="SP-2", decision="pin")),
            lambda: store.publish(round_id, now=NOW),
            lambda: store.delete(round_id),
        ):
            with pytest.raises(ConflictError, match="published"):
                attempt()


def test_a_change_sends_a_reviewed_round_back_to_draft(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    _solved_and_reviewed(factory, round_id)
    with transaction(factory) as session:
        store = _store(session)
        store.decide(round_id, PairRequest(applicant="S-3", counterpart="SP-1", decision="forbid"))
        row = store.get(round_id)
        assert row.status is RoundStatus.draft
        assert row.report is None
        assert row.assignments == []


def test_pins_are_checked_against_capacity_and_each_other(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    with transaction(factory) as session:
        store = _store(session)
        store.decide(round_id, PairRequest(applicant="S-1", counterpart="SP-2", decision="pin"))
        with pytest.raises(ConflictError, match="already pinned to another"):
            store.decide(round_id, PairRequest(applicant="S-1", counterpart="SP-1", decision="pin"))
        with pytest.raises(ConflictError, match="places is already pinned"):
            store.decide(round_id, PairRequest(applicant="S-2", counterpart="SP-2", decision="pin"))
        store.decide(round_id, PairRequest(applicant="S-1", counterpart="SP-2", decision="forbid"))
        inputs = store.inputs(round_id)
        assert inputs.pinned == []
        assert len(inputs.forbidden) == 1


def test_bad_rounds_are_refused_naming_the_field(factory: sessionmaker[Session], profiles: None) -> None:
    with transaction(factory) as session:
        store = _store(session)
        with pytest.raises(ReferenceCheckError) as caught:
            store.create(_round(applicants=[{"external_id": "S-1"}, {"external_id": "S-404"}]))
        assert caught.value.field == "applicants.1.external_id"
        with pytest.raises(ReferenceCheckError) as caught:
            store.create(_round(applicants=[{"external_id": "S-1", "ranking": ["SP-1", "SP-9"]}]))
        assert caught.value.field == "applicants.0.ranking.1"
    with pytest.raises(ValidationError, match="more than once"):
        _round(applicants=[{"external_id": "S-1"}, {"external_id": "S-1"}])
    with pytest.raises(ValidationError, match="floor"):
        TypeAdapter(SolveRequest).validate_python({"solver": "stable", "floor": True})


def test_rankings_close_at_the_deadline(factory: sessionmaker[Session], profiles: None) -> None:
    round_id = _created(factory)
    with transaction(factory) as session:
        store = _store(session)
        store.submit_ranking(round_id, "S-2", ["SP-2", "SP-1"], now=NOW)
        store.submit_ranking(round_id, "SP-1", ["S-3", "S-1"], now=NOW)
        late = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
        with pytest.raises(ConflictError, match="rankings closed"):
            store.submit_ranking(round_id, "S-1", ["SP-1"], now=late)
        inputs = store.inputs(round_id)
    assert list(inputs.applicant_rankings.values()) == [[inputs.counterparts[1], inputs.counterparts[0]]]
    assert list(inputs.counterpart_rankings.values()) == [[inputs.applicants[2], inputs.applicants[0]]]


def test_a_deleted_profile_leaves_its_rounds(factory: sessionmaker[Session], profiles: None) -> None:
    round_id = _created(factory, counterparts=[{"external_id": "SP-1", "ranking": ["S-2", "S-3"]}])
    with transaction(factory) as session:
        _store(session).decide(round_id, PairRequest(applicant="S-2", counterpart="SP-1", decision="pin"))
    with transaction(factory) as session:
        repository = Repository(session, secret=TEST_SECRET)
        repository.delete(KINDS["startups"], repository.by_external_ids(KINDS["startups"], ["S-2"])["S-2"].id)
    with factory() as session:
        store = _store(session)
        public = store.public(store.get(round_id))
        inputs = store.inputs(round_id)
    assert [a.external_id for a in public.applicants] == ["S-1", "S-3"]
    assert public.counterparts[0].ranking == ["S-3"]
    assert public.decisions == []
    assert (len(inputs.applicants), inputs.pinned) == (2, [])


def test_publishing_refuses_matches_whose_profiles_were_deleted(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    _solved_and_reviewed(factory, round_id)
    with transaction(factory) as session:
        repository = Repository(session, secret=TEST_SECRET)
        repository.delete(KINDS["startups"], repository.by_external_ids(KINDS["startups"], ["S-3"])["S-3"].id)
    with pytest.raises(ConflictError, match="deleted since"), transaction(factory) as session:
        _store(session).publish(round_id, now=NOW)
    assert _vacancies(factory) == {"SP-1": 2, "SP-2": 1}
    assert _interactions(factory) == 0


def test_a_capacity_cannot_drop_below_its_pins(factory: sessionmaker[Session], profiles: None) -> None:
    round_id = _created(factory)
    with transaction(factory) as session:
        _store(session).decide(round_id, PairRequest(applicant="S-1", counterpart="SP-2", decision="pin"))
    fewer = {"counterparts": [{"external_id": "SP-1"}, {"external_id": "SP-2", "capacity": 0}]}
    with pytest.raises(ConflictError, match="SP-2 has 1 pinned"), transaction(factory) as session:
        _store(session).update(round_id, RoundUpdate.model_validate(fewer))


def test_changing_participants_keeps_the_decisions_that_still_apply(
    factory: sessionmaker[Session], profiles: None
) -> None:
    round_id = _created(factory)
    with transaction(factory) as session:
        store = _store(session)
        store.decide(round_id, PairRequest(applicant="S-1", counterpart="SP-1", decision="forbid"))
        store.decide(round_id, PairRequest(applicant="S-3", counterpart="SP-2", decision="pin"))
    change = {
        "applicants": [{"external_id": "S-3"}, {"external_id": "S-1", "ranking": ["SP-1"]}],
        "counterparts": [{"external_id": "SP-1", "capacity": 4}],
    }
    with transaction(factory) as session:
        _store(session).update(round_id, RoundUpdate.model_validate(change))
    with factory() as session:
        public = _store(session).public(_store(session).get(round_id))
    assert [(a.external_id, a.ranking) for a in public.applicants] == [("S-3", []), ("S-1", ["SP-1"])]
    assert [(c.external_id, c.capacity) for c in public.counterparts] == [("SP-1", 4)]
    assert [(d.applicant, d.counterpart, d.decision.value) for d in public.decisions] == [
        ("S-1", "SP-1", "forbid")
    ]
