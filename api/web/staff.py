"""Programme staff: the dashboard against the plan's targets, and the review queue where
accounts are verified and City Partner cards granted."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.deps import RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.web.charts import Point, bar_chart
from api.web.deps import FormDep, Role, WebUser, page_of, render
from api.web.eligibility import EligibilityWatch
from api.web.forms import _marker
from api.web.i18n import gettext_for
from models.accounts import INTRODUCTION_KINDS
from models.enums import REALISED_OUTCOMES, CardTier, EntityKind, InteractionKind
from models.exposure import shown_between
from models.kinds import kind_spec
from models.policy_applications import ApplicationStatus, status_counts
from models.portal import Login, set_verified
from models.tables import Account, Interaction, Investor, Mentor, Person, PracticeBase, Space, Startup

router = APIRouter(include_in_schema=False)
Staff = Annotated[WebUser, Depends(Role())]  # admin only
DEFAULT_RANGE_DAYS = 365
KIND_NAMES = {
    EntityKind.person: _marker("Talent"),
    EntityKind.startup: _marker("Startup"),
    EntityKind.investor: _marker("Investor"),
    EntityKind.mentor: _marker("Mentor"),
    EntityKind.space: _marker("Space"),
    EntityKind.practice_base: _marker("Practice base"),
    EntityKind.post: _marker("R&D post"),
}


STATUS_NAMES = {
    ApplicationStatus.submitted.value: _marker("Submitted"),
    ApplicationStatus.under_review.value: _marker("Under review"),
    ApplicationStatus.granted.value: _marker("Granted"),
    ApplicationStatus.refused.value: _marker("Refused"),
}


@dataclass(frozen=True)
class Dashboard:
    cards: dict[str, int]
    matches_by_direction: list[tuple[EntityKind, EntityKind, int]]
    intros_requested: int
    intros_accepted: int
    intros_invested: int
    seat_fill: float
    slot_fill: float
    days_to_first_match: float | None
    exposure_gini: float
    # Applications for the plan's policies made within the range, over every policy, by the
    # status they stand at now.
    policy_applications: dict[str, int]


def _gini(counts: list[int]) -> float:
    """0 when every investor was shown as often, towards 1 when one was shown every time."""
    total, n = sum(counts), len(counts)
    if n == 0 or total == 0:
        return 0.0
    ranked = sorted(counts)
    return 2 * sum((i + 1) * c for i, c in enumerate(ranked)) / (n * total) - (n + 1) / n


def _in_range(start: dt.datetime, end: dt.datetime) -> list[ColumnElement[bool]]:
    return [Interaction.occurred_at >= start, Interaction.occurred_at < end]


def dashboard(session: Session, start: dt.datetime, end: dt.datetime) -> Dashboard:
    cards = dict(
        session.execute(
            select(Person.card_tier, func.count())
            .where(Person.card_tier != CardTier.none)
            .group_by(Person.card_tier)
        ).all()
    )
    directions = session.execute(
        select(Interaction.actor_kind, Interaction.target_kind, func.count())
        .where(Interaction.kind.in_(list(REALISED_OUTCOMES)), *_in_range(start, end))
        .group_by(Interaction.actor_kind, Interaction.target_kind)
    ).all()
    requests = session.execute(
        select(Interaction.actor_id, Interaction.target_kind, Interaction.target_id).where(
            Interaction.actor_kind == EntityKind.startup,
            Interaction.target_kind.in_([EntityKind.investor, EntityKind.mentor]),
            Interaction.kind == InteractionKind.contacted,
            *_in_range(start, end),
        )
    ).all()
    pairs = {((EntityKind.startup, s), (k, t)) for s, k, t in requests}
    accepted = _accepted(session, pairs)
    invested = {
        (t, a)
        for a, t in session.execute(
            select(Interaction.actor_id, Interaction.target_id).where(
                Interaction.kind == InteractionKind.invested, Interaction.actor_kind == EntityKind.investor
            )
        )
    }
    turned = sum(1 for s, t in accepted if t[0] is EntityKind.investor and (s[1], t[1]) in invested)
    seats = session.execute(select(func.sum(Space.seats_total), func.sum(Space.seats_vacant))).one()
    slots = session.execute(
        select(func.sum(PracticeBase.slots_total), func.sum(PracticeBase.slots_free))
    ).one()
    # Exposure is who the portal showed founders, not who they contacted: a Gini over contacts
    # measured the founders' choices, not the recommender's fairness.
    exposure = shown_between(session, EntityKind.investor, start.date(), end.date())
    investor_ids = session.scalars(select(Investor.id).where(Investor.active)).all()
    return Dashboard(
        cards={tier.value: int(cards.get(tier, 0)) for tier in (CardTier.A, CardTier.B, CardTier.C)},
        matches_by_direction=sorted(((a, t, int(n)) for a, t, n in directions), key=lambda row: -row[2]),
        intros_requested=len(pairs),
        intros_accepted=len(accepted),
        intros_invested=turned,
        seat_fill=_fill(seats),
        slot_fill=_fill(slots),
        days_to_first_match=_days_to_first_match(session, start, end),
        exposure_gini=_gini([exposure.get(i, 0) for i in investor_ids]),
        policy_applications=_applications_by_status(session, start, end),
    )


def _accepted(
    session: Session, pairs: set[tuple[tuple[EntityKind, int], tuple[EntityKind, int]]]
) -> list[tuple[tuple[EntityKind, int], tuple[EntityKind, int]]]:
    """The requested introductions the counterpart said yes to (the rule of
    :func:`models.accounts.introductions_accepted`), in one query rather than one per pair."""
    answered = {
        (startup, kind, row_id)
        for startup, kind, row_id in session.execute(
            select(Interaction.target_id, Interaction.actor_kind, Interaction.actor_id).where(
                Interaction.actor_kind.in_([EntityKind.investor, EntityKind.mentor]),
                Interaction.target_kind == EntityKind.startup,
                Interaction.kind.in_(list(INTRODUCTION_KINDS)),
            )
        )
    }
    return [(ours, theirs) for ours, theirs in pairs if (ours[1], theirs[0], theirs[1]) in answered]


def _applications_by_status(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for (_policy_id, state), count in status_counts(session, made_between=(start, end)).items():
        totals[state] += count
    return {state.value: totals[state.value] for state in ApplicationStatus}


def _fill(totals: tuple[int | None, int | None]) -> float:
    total, free = totals
    return 0.0 if not total else (total - (free or 0)) / total


def _days_to_first_match(session: Session, start: dt.datetime, end: dt.datetime) -> float | None:
    """Median days from a startup's profile being created to its first realised match, for
    startups first matched within the range."""
    created = dict(session.execute(select(Startup.id, Startup.created_at)).all())
    first_match = session.execute(
        select(Interaction.target_id, func.min(Interaction.occurred_at))
        .where(Interaction.target_kind == EntityKind.startup, Interaction.kind.in_(list(REALISED_OUTCOMES)))
        .group_by(Interaction.target_id)
    ).all()
    days = [
        (_aware(matched) - _aware(created[sid])).total_seconds() / 86400
        for sid, matched in first_match
        if sid in created and start <= _aware(matched) < end and _aware(matched) >= _aware(created[sid])
    ]
    return statistics.median(days) if days else None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _monthly(
    session: Session, kinds: list[InteractionKind], start: dt.datetime, end: dt.datetime
) -> list[Point]:
    moments = session.scalars(
        select(Interaction.occurred_at).where(Interaction.kind.in_(kinds), *_in_range(start, end))
    )
    counts = Counter(_aware(m).strftime("%y/%m") for m in moments)
    months, cursor = [], dt.date(start.year, start.month, 1)
    while cursor < end.date():
        months.append(cursor.strftime("%y/%m"))
        cursor = dt.date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    return [Point(month, counts.get(month, 0)) for month in months]


def _parse_day(text: str, fallback: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


@router.get("/staff")
async def staff_home(
    request: Request,
    user: Staff,
    repository: RepositoryDep,
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    """Defaults to the year up to today, or up to the newest interaction when that is later (a
    demo's history dated ahead), so both the history and today's shown recommendations count."""
    session = repository.session
    newest = session.scalar(select(func.max(Interaction.occurred_at)))
    today = dt.datetime.now(dt.UTC).date()
    last = max(_aware(newest).date(), today) if newest else today
    to_day = _parse_day(end, last)
    from_day = _parse_day(start, to_day - dt.timedelta(days=DEFAULT_RANGE_DAYS))
    if from_day > to_day:
        from_day, to_day = to_day, from_day
    lower = dt.datetime.combine(from_day, dt.time(), dt.UTC)
    upper = dt.datetime.combine(to_day + dt.timedelta(days=1), dt.time(), dt.UTC)
    gettext = gettext_for(request.state.web_session.language)
    board = dashboard(session, lower, upper)
    series = (
        (gettext("Realised matches per month"), list(REALISED_OUTCOMES)),
        (gettext("Introductions requested per month"), [InteractionKind.contacted]),
    )
    charts = [(title, bar_chart(title, _monthly(session, kinds, lower, upper))) for title, kinds in series]
    context = {
        "user": user,
        "board": board,
        "charts": charts,
        "kind_names": KIND_NAMES,
        "status_names": STATUS_NAMES,
        "values": {"from": from_day.isoformat(), "to": to_day.isoformat()},
    }
    return render(request, "staff.html", context)


@dataclass(frozen=True)
class ReviewRow:
    account: Account
    person: Person | None
    login: Login | None


@router.get("/staff/review")
async def review_queue(
    request: Request,
    user: Staff,
    repository: RepositoryDep,
    show: Annotated[str, Query(pattern="^(pending|all)$")] = "pending",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Accounts awaiting verification first (investors and mentors), or every person account."""
    session = repository.session
    query = (
        select(Account, Person, Login)
        .join(Person, Person.id == Account.person_id)
        .outerjoin(Login, Login.account_id == Account.id)
        .where(Account.active)
    )
    if show == "pending":
        query = query.where(Login.verified.is_(False))
    if q:
        query = query.where(Person.name.contains(q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    paging = page_of(total, page)
    rows = [
        ReviewRow(a, p, lg)
        for a, p, lg in session.execute(
            query.order_by(Account.id.desc()).limit(paging["size"]).offset(paging["offset"])
        )
    ]
    context = {
        "user": user,
        "rows": rows,
        "p": paging,
        "q": q,
        "show": show,
        "tiers": [t.value for t in CardTier],
    }
    return render(request, "review.html", context)


@router.post("/staff/accounts/{row_id}/verify")
async def verify(user: Staff, form: FormDep, repository: RepositoryDep, row_id: RowId) -> Response:
    """Verifying an account shows the investor or mentor profiles its person runs."""
    session = repository.session
    account = session.get(Account, row_id)
    if account is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no account {row_id}", field="path.row_id")
    try:
        set_verified(session, row_id)
    except LookupError as error:
        raise ApiError(status.HTTP_409_CONFLICT, str(error)) from None
    if account.person_id is not None:
        for slug, table, column in (
            ("investors", Investor, Investor.partner_id),
            ("mentors", Mentor, Mentor.person_id),
        ):
            spec = kind_spec(slug)
            for row in session.scalars(
                select(table).where(column == account.person_id, table.active.is_(False))
            ):
                repository.save(spec, row, repository.merged(spec, row, {"active": True}))
    session.commit()
    return RedirectResponse(_back(form), status.HTTP_303_SEE_OTHER)


@router.post("/staff/persons/{row_id}/card")
async def grant_card(
    request: Request, user: Staff, form: FormDep, repository: RepositoryDep, row_id: RowId
) -> Response:
    """Grant (or withdraw, with 'none') a City Partner card: A industry leader, B investor, C talent.
    A card opens policies (the card's services): those are told in the grant's transaction."""
    tier = str(form.get("tier") or "")
    if tier not in {t.value for t in CardTier}:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "tier: one of A, B, C, none", field="tier")
    spec = kind_spec("persons")
    person = repository.get(spec, row_id)
    watch = EligibilityWatch.of(request, EntityKind.person, row_id)
    repository.save(spec, person, repository.merged(spec, person, {"card_tier": tier}))
    watch.announce(repository.session, person)
    repository.session.commit()
    return RedirectResponse(_back(form), status.HTTP_303_SEE_OTHER)


def _back(form: FormData) -> str:
    back = str(form.get("back") or "")
    return back if back.startswith("/staff") else "/staff/review"
