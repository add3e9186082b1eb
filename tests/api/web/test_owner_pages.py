"""Owner pages of practice bases and R&D posts, capacity editing for every kind that has
capacity, a mentor's places taken on acceptance, and the space occupancy history."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import func, select

from models.enums import AccountRole, EntityKind, InteractionKind
from models.occupancy import SpaceOccupancy
from models.tables import Account, AccountProfile, Interaction, Mentor, PracticeBase, RdPost, Space
from tests.portal_client import Browser, demo


def _owned(app: Any, label: str, kind: EntityKind) -> int:
    with app.state.session_factory() as session:
        found = session.scalar(
            select(AccountProfile.profile_id)
            .join(Account, Account.id == AccountProfile.account_id)
            .where(Account.name == f"demo {label}", AccountProfile.profile_kind == kind)
        )
    assert found is not None, (label, kind)
    return int(found)


def _count(app: Any, *where: Any) -> int:
    with app.state.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Interaction).where(*where)) or 0)


def _apply(student: Browser, kind: str, row_id: int) -> None:
    answer = student.post("/talent/applications", {"target_kind": kind, "target_id": str(row_id)})
    assert answer.status_code == 303


def _application_id(page: str, kind: str, row_id: int) -> int:
    found = re.search(rf'action="/openings/{kind}/{row_id}/applications/(\d+)"', page)
    assert found, "no pending application on the page"
    return int(found.group(1))


def test_an_enterprise_accepts_an_application_and_a_slot_is_taken(app: Any) -> None:
    enterprise, student = demo(app, "enterprise"), demo(app, "student")
    base_id = _owned(app, "enterprise", EntityKind.practice_base)
    with app.state.session_factory() as session:
        free = session.get(PracticeBase, base_id).slots_free
    page = enterprise.get(f"/openings?kind=practice_base&id={base_id}")
    assert page.status_code == 200
    assert f'id="free">{free}<' in page.text
    assert "为您推荐的青年人才" in page.text
    _apply(student, "practice_base", base_id)
    page = enterprise.get(f"/openings?kind=practice_base&id={base_id}")
    application = _application_id(page.text, "practice_base", base_id)
    accepted = enterprise.post(
        f"/openings/practice_base/{base_id}/applications/{application}", {"answer": "accept"}
    )
    assert accepted.status_code == 303, accepted.text[:2000]
    assert f'id="free">{free - 1}<' in enterprise.get(f"/openings?kind=practice_base&id={base_id}").text
    placed = (
        Interaction.actor_kind == EntityKind.practice_base,
        Interaction.actor_id == base_id,
        Interaction.kind == InteractionKind.placed,
    )
    assert _count(app, *placed) == 1
    # Only the first answer counts.
    declined = (*placed[:2], Interaction.kind == InteractionKind.declined)
    before = _count(app, *declined)
    again = enterprise.post(
        f"/openings/practice_base/{base_id}/applications/{application}", {"answer": "decline"}
    )
    assert again.status_code == 303
    assert _count(app, *declined) == before


def test_a_post_full_to_its_headcount_refuses_an_acceptance_and_writes_nothing(app: Any) -> None:
    enterprise, student = demo(app, "enterprise"), demo(app, "student")
    post_id = _owned(app, "enterprise", EntityKind.post)
    with app.state.session_factory() as session, session.begin():
        post = session.get(RdPost, post_id)
        assert post is not None
        headcount = post.headcount
        # Its headcount already filled, as by earlier placements.
        session.add_all(
            Interaction(
                external_id=f"FULL-{n}",
                actor_kind=EntityKind.post,
                actor_id=post_id,
                target_kind=EntityKind.person,
                target_id=1,
                kind=InteractionKind.placed,
                occurred_at=dt.datetime.now(dt.UTC),
            )
            for n in range(headcount)
        )
    _apply(student, "post", post_id)
    page = enterprise.get(f"/openings?kind=post&id={post_id}")
    assert f'id="taken">{headcount}<' in page.text
    application = _application_id(page.text, "post", post_id)
    before = _count(app, Interaction.actor_kind == EntityKind.post, Interaction.actor_id == post_id)
    refused = enterprise.post(f"/openings/post/{post_id}/applications/{application}", {"answer": "accept"})
    assert refused.status_code == 409
    assert _count(app, Interaction.actor_kind == EntityKind.post, Interaction.actor_id == post_id) == before
    declined = enterprise.post(f"/openings/post/{post_id}/applications/{application}", {"answer": "decline"})
    assert declined.status_code == 303
    assert "已拒绝" in demo(app, "student").get("/requests").text


def test_nobody_answers_an_application_to_someone_elses_opening(app: Any) -> None:
    operator = demo(app, "operator")
    base_id = _owned(app, "enterprise", EntityKind.practice_base)
    answer = operator.post(f"/openings/practice_base/{base_id}/applications/1", {"answer": "accept"})
    assert answer.status_code in {403, 404}
    assert demo(app, "investor").get("/openings").status_code == 403


def test_capacity_errors_sit_next_to_the_field_keep_the_input_and_write_nothing(app: Any) -> None:
    operator = demo(app, "operator")
    space_id = _owned(app, "operator", EntityKind.space)
    with app.state.session_factory() as session:
        space = session.get(Space, space_id)
        assert space is not None
        total, vacant = space.seats_total, space.seats_vacant
    form = operator.get(f"/capacity/space/{space_id}")
    assert form.status_code == 200
    assert f'value="{total}"' in form.text
    too_many = operator.post(f"/capacity/space/{space_id}", {"seats_total": "5", "seats_vacant": "9"})
    assert too_many.status_code == 422
    assert re.search(r'id="e-seats_vacant">不能超过总数。<', too_many.text)
    assert 'value="9"' in too_many.text
    not_a_number = operator.post(f"/capacity/space/{space_id}", {"seats_total": "五十", "seats_vacant": "1"})
    assert not_a_number.status_code == 422
    assert 'id="e-seats_total"' in not_a_number.text
    assert 'value="五十"' in not_a_number.text
    with app.state.session_factory() as session:
        space = session.get(Space, space_id)
        assert (space.seats_total, space.seats_vacant) == (total, vacant)
        history = session.scalar(
            select(func.count()).select_from(SpaceOccupancy).where(SpaceOccupancy.space_id == space_id)
        )
    saved = operator.post(
        f"/capacity/space/{space_id}", {"seats_total": str(total + 10), "seats_vacant": str(vacant + 10)}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/operator?space={space_id}"
    with app.state.session_factory() as session:
        space = session.get(Space, space_id)
        assert (space.seats_total, space.seats_vacant) == (total + 10, vacant + 10)
        rows = session.scalars(
            select(SpaceOccupancy)
            .where(SpaceOccupancy.space_id == space_id)
            .order_by(SpaceOccupancy.id.desc())
        ).all()
    assert len(rows) == (history or 0) + 1
    assert (rows[0].seats_total, rows[0].seats_vacant) == (total + 10, vacant + 10)
    assert "<svg" in operator.get(f"/operator?space={space_id}").text


def test_capacity_is_written_only_by_the_kinds_owners(app: Any) -> None:
    space_id = _owned(app, "operator", EntityKind.space)
    with app.state.session_factory() as session:
        mentor_id = session.scalar(
            select(Mentor.id)
            .join(Account, Account.person_id == Mentor.person_id)
            .where(Account.name == "demo mentor")
        )
        other_space = session.scalar(select(Space.id).where(Space.id != space_id).limit(1))
        roles = dict(session.execute(select(Account.name, Account.role)).all())
    assert roles["demo enterprise"] is AccountRole.enterprise
    body = {"seats_total": "10", "seats_vacant": "1"}
    assert demo(app, "investor").post(f"/capacity/space/{space_id}", body).status_code == 403
    assert demo(app, "operator").post(f"/capacity/space/{other_space}", body).status_code in {403, 404}
    assert (
        demo(app, "enterprise").post(f"/capacity/mentor/{mentor_id}", {"max_mentees": "5"}).status_code == 403
    )
    mentor = demo(app, "mentor")
    assert mentor.get(f"/capacity/mentor/{mentor_id}").status_code == 200
    assert mentor.post(f"/capacity/mentor/{mentor_id}", {"max_mentees": "7"}).status_code == 303
    with app.state.session_factory() as session:
        assert session.get(Mentor, mentor_id).max_mentees == 7


def test_a_mentors_yes_takes_a_mentee_place_and_a_full_mentor_cannot_say_yes(app: Any) -> None:
    founder, mentor = demo(app, "founder"), demo(app, "mentor")
    found = re.search(r'href="/founder/startups/(\d+)"', founder.get("/founder").text)
    assert found
    startup_id = int(found.group(1))
    with app.state.session_factory() as session:
        mentor_id = session.scalar(
            select(Mentor.id)
            .join(Account, Account.person_id == Mentor.person_id)
            .where(Account.name == "demo mentor")
        )
        row = session.get(Mentor, mentor_id)
        assert row is not None
        taken = row.current_mentees
    assert mentor.post(f"/capacity/mentor/{mentor_id}", {"max_mentees": str(taken + 1)}).status_code == 303
    asked = founder.post(
        f"/founder/startups/{startup_id}/requests", {"target_kind": "mentor", "target_id": str(mentor_id)}
    )
    assert asked.status_code == 303
    request_id = re.search(r'action="/intros/(\d+)"', mentor.get("/intros").text)
    assert request_id
    assert mentor.post(f"/intros/{request_id.group(1)}", {"answer": "yes"}).status_code == 303
    with app.state.session_factory() as session:
        assert session.get(Mentor, mentor_id).current_mentees == taken + 1
    # Now full: another startup's request cannot be accepted, and nothing is written.
    with app.state.session_factory() as session, session.begin():
        other = session.scalar(
            select(func.min(Interaction.actor_id)).where(
                Interaction.actor_kind == EntityKind.startup, Interaction.actor_id != startup_id
            )
        )
        session.add(
            Interaction(
                external_id="FULL-MENTOR",
                actor_kind=EntityKind.startup,
                actor_id=other,
                target_kind=EntityKind.mentor,
                target_id=mentor_id,
                kind=InteractionKind.contacted,
                occurred_at=dt.datetime.now(dt.UTC),
            )
        )
    page = mentor.get("/intros").text
    second = re.findall(r'action="/intros/(\d+)"', page)
    assert second
    before = _count(app, Interaction.actor_kind == EntityKind.mentor, Interaction.actor_id == mentor_id)
    assert mentor.post(f"/intros/{second[0]}", {"answer": "yes"}).status_code == 409
    assert (
        _count(app, Interaction.actor_kind == EntityKind.mentor, Interaction.actor_id == mentor_id) == before
    )
    with app.state.session_factory() as session:
        assert session.get(Mentor, mentor_id).current_mentees == taken + 1


def test_a_mentor_cannot_offer_fewer_places_than_mentees_taken(app: Any) -> None:
    mentor = demo(app, "mentor")
    with app.state.session_factory() as session, session.begin():
        row = session.scalar(
            select(Mentor)
            .join(Account, Account.person_id == Mentor.person_id)
            .where(Account.name == "demo mentor")
        )
        assert row is not None
        row.max_mentees, row.current_mentees = 4, 3
        mentor_id = row.id
    mentor.get("/intros")  # the matcher catches up
    refused = mentor.post(f"/capacity/mentor/{mentor_id}", {"max_mentees": "2"})
    assert refused.status_code == 422
    assert re.search(r'id="e-max_mentees">少于您当前辅导的人数。<', refused.text)
    assert 'value="2"' in refused.text
    with app.state.session_factory() as session:
        assert session.get(Mentor, mentor_id).max_mentees == 4
