"""Investor pages: deal flow with filters, the pipeline (every move an interaction the matcher
learns from), the thesis, and export of the pipeline to CSV and Excel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from api.deps import MatcherServiceDep, RepositoryDep
from api.errors import ApiError
from api.ids import RowId
from api.security import readable_row, writable_row
from api.web.deps import FormDep, Role, WebUser, page_of, render
from api.web.eligibility import EligibilityWatch
from api.web.exposure import shown_log
from api.web.forms import _marker, field_errors, form_values, optional_int, render_form
from api.web.i18n import gettext_for
from api.web.introductions import record
from api.web.notices import announce
from api.web.ranked import ranked_page
from api.web.vocab import (
    district_label,
    district_options,
    industry_label,
    industry_options,
    stage_label,
    stage_options,
)
from matcher.matcher import Match, Matcher
from models.enums import AccountRole, EntityKind, InteractionKind
from models.kinds import KIND_OF_ENTITY, kind_spec
from models.repository import Repository
from models.spreadsheets import CSV_MEDIA, XLSX_MEDIA, csv_bytes, xlsx_bytes
from models.tables import Interaction, Investor, Startup
from models.taxonomy import INDUSTRIES, industry_ancestors

router = APIRouter(include_in_schema=False)
InvestorUser = Annotated[WebUser, Depends(Role(AccountRole.investor))]
TEN_THOUSAND = 10_000
DEAL_FLOW_DEPTH = 100
DEALS_PER_PAGE = 10
# The pipeline's stages and the interaction that moves a startup into each.
STAGE_MOVES: dict[str, InteractionKind] = {
    "saved": InteractionKind.saved,
    "contacted": InteractionKind.contacted,
    "meeting": InteractionKind.meeting,
    "invested": InteractionKind.invested,
    "passed": InteractionKind.declined,
}
STAGE_OF_KIND = {kind: stage for stage, kind in STAGE_MOVES.items()}
PIPELINE_STAGES = ("new", *STAGE_MOVES)
# English sources of the stage names (the catalogue translates them).
PIPELINE_LABELS = {
    "new": _marker("New"),
    "saved": _marker("Saved"),
    "contacted": _marker("Contacted"),
    "meeting": _marker("Meeting"),
    "invested": _marker("Invested"),
    "passed": _marker("Passed"),
}


def my_investor(user: WebUser, repository: Repository) -> Investor | None:
    ids = sorted(row_id for kind, row_id in user.principal.owned if kind is EntityKind.investor)
    return repository.session.get(Investor, ids[0]) if ids else None


def _investor_or_empty(request: Request, user: WebUser, repository: Repository) -> Investor | Response:
    investor = my_investor(user, repository)
    if investor is None:
        return render(request, "no_profile.html", {"user": user}, status_code=200)
    return investor


def _industry_codes(code: str) -> list[str]:
    """The industry and everything under it: a sector filter finds its sub-industries too."""
    return [other for other in INDUSTRIES if other == code or code in industry_ancestors(other)]


@dataclass(frozen=True)
class DealFilters:
    industry: str = ""
    stage: str = ""
    district: str = ""
    ask_min_wan: int | None = None
    ask_max_wan: int | None = None

    def matcher_filters(self) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        if self.industry in INDUSTRIES:
            chosen["industries"] = _industry_codes(self.industry)
        if self.stage:
            chosen["stage"] = self.stage
        if self.district:
            chosen["district"] = self.district
        return chosen

    def admits_ask(self, ask: int | None) -> bool:
        if self.ask_min_wan is None and self.ask_max_wan is None:
            return True
        if ask is None:
            return False
        low = (self.ask_min_wan or 0) * TEN_THOUSAND
        high = None if self.ask_max_wan is None else self.ask_max_wan * TEN_THOUSAND
        return ask >= low and (high is None or ask <= high)


def _filters(
    industry: str, stage: str, district: str, ask_min: str, ask_max: str
) -> tuple[DealFilters, dict[str, str]]:
    errors: dict[str, str] = {}
    low, high = optional_int(ask_min), optional_int(ask_max)
    if isinstance(low, str):
        errors["ask_min"], low = "Enter a whole number.", None
    if isinstance(high, str):
        errors["ask_max"], high = "Enter a whole number.", None
    return DealFilters(industry, stage, district, low, high), errors


@router.get("/investor")
async def deal_flow(
    request: Request,
    user: InvestorUser,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    industry: Annotated[str, Query(max_length=64)] = "",
    stage: Annotated[str, Query(max_length=32)] = "",
    district: Annotated[str, Query(max_length=64)] = "",
    ask_min: Annotated[str, Query(max_length=16)] = "",
    ask_max: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=DEAL_FLOW_DEPTH)] = 1,
) -> Response:
    found = _investor_or_empty(request, user, repository)
    if isinstance(found, Response):
        return found
    investor = found
    lang = request.state.web_session.language
    gettext = gettext_for(lang)
    filters, errors = _filters(industry, stage, district, ask_min, ask_max)
    needle = q.casefold()

    def keep(match: Match, matcher: Matcher) -> bool:
        ask = matcher.catalog_.tables[EntityKind.startup].record(match.id).get("funding_ask_cny")
        return filters.admits_ask(ask) and needle in match.name.casefold()

    shown, paging = ranked_page(
        service,
        (EntityKind.investor, investor.id),
        EntityKind.startup,
        page=page,
        per_page=DEALS_PER_PAGE,
        depth=DEAL_FLOW_DEPTH,
        filters=filters.matcher_filters(),
        keep=keep if q or filters.ask_min_wan is not None or filters.ask_max_wan is not None else None,
        shown=shown_log(request),
    )
    with service.reading() as matcher:
        records = {m.id: matcher.catalog_.tables[EntityKind.startup].record(m.id) for m in shown}
    stages = _pipeline_stages(repository, investor.id, [m.id for m in shown])
    context = {
        "user": user,
        "investor": investor,
        "matches": shown,
        "records": records,
        "stages": stages,
        "p": paging,
        "values": {
            "industry": industry,
            "stage": stage,
            "district": district,
            "ask_min": ask_min,
            "ask_max": ask_max,
            "q": q,
        },
        "errors": {name: gettext(text) for name, text in errors.items()},
        "industries": industry_options(lang),
        "stage_options": stage_options(lang),
        "districts": district_options(lang),
        "stage_label": stage_label,
        "industry_label": industry_label,
        "district_label": district_label,
        "pipeline_stages": PIPELINE_STAGES,
        "pipeline_labels": PIPELINE_LABELS,
        "query_string": request.url.query,
    }
    template = "deal_flow_rows.html" if request.headers.get("hx-request") else "deal_flow.html"
    return render(request, template, context)


def _pipeline_stages(
    repository: Repository, investor_id: int, startup_ids: list[int] | None = None
) -> dict[int, str]:
    """Each startup's current pipeline stage: the latest move the investor recorded towards it."""
    query = select(Interaction.target_id, Interaction.kind).where(
        Interaction.actor_kind == EntityKind.investor,
        Interaction.actor_id == investor_id,
        Interaction.target_kind == EntityKind.startup,
        Interaction.kind.in_(list(STAGE_OF_KIND)),
    )
    if startup_ids is not None:
        if not startup_ids:
            return {}
        query = query.where(Interaction.target_id.in_(startup_ids))
    stages: dict[int, str] = {}
    for target_id, kind in repository.session.execute(
        query.order_by(Interaction.occurred_at, Interaction.id)
    ):
        stages[target_id] = STAGE_OF_KIND[kind]
    return stages


@router.post("/investor/pipeline/{row_id}")
async def move(
    request: Request, user: InvestorUser, form: FormDep, repository: RepositoryDep, row_id: RowId
) -> Response:
    """Move a startup to a pipeline stage: recorded as the investor's interaction with it."""
    investor = my_investor(user, repository)
    if investor is None:
        raise ApiError(status.HTTP_403_FORBIDDEN, "this account runs no investor profile")
    writable_row(user.principal, KIND_OF_ENTITY[EntityKind.investor], repository.session, investor.id)
    startup = readable_row(user.principal, KIND_OF_ENTITY[EntityKind.startup], repository.session, row_id)
    stage = str(form.get("stage") or "")
    if stage not in STAGE_MOVES:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"stage: one of {', '.join(STAGE_MOVES)}", field="stage"
        )
    if _pipeline_stages(repository, investor.id, [startup.id]).get(startup.id) != stage:
        record(
            repository,
            (EntityKind.investor, investor.id),
            (EntityKind.startup, startup.id),
            STAGE_MOVES[stage],
        )
        ours, theirs = (EntityKind.investor, investor.id), (EntityKind.startup, startup.id)
        announce(repository.session, ours, theirs, STAGE_MOVES[stage])
        repository.session.commit()
    if request.headers.get("hx-request"):
        return render(
            request,
            "pipeline_cell.html",
            {
                "startup_id": startup.id,
                "stage": stage,
                "pipeline_stages": PIPELINE_STAGES,
                "pipeline_labels": PIPELINE_LABELS,
            },
        )
    back = str(form.get("back") or "/investor/pipeline")
    return RedirectResponse(
        back if back.startswith("/investor") else "/investor/pipeline", status.HTTP_303_SEE_OTHER
    )


@dataclass(frozen=True)
class PipelineRow:
    startup: Startup
    stage: str


def _pipeline(repository: Repository, investor_id: int, stage: str = "", q: str = "") -> list[PipelineRow]:
    stages = _pipeline_stages(repository, investor_id)
    if stage:
        stages = {sid: s for sid, s in stages.items() if s == stage}
    if not stages:
        return []
    startups = repository.session.scalars(
        select(Startup).where(Startup.id.in_(list(stages))).order_by(Startup.name)
    )
    rows = [PipelineRow(s, stages[s.id]) for s in startups]
    return [r for r in rows if q.casefold() in r.startup.name.casefold()] if q else rows


@router.get("/investor/pipeline")
async def pipeline(
    request: Request,
    user: InvestorUser,
    repository: RepositoryDep,
    stage: Annotated[str, Query(pattern="^(|saved|contacted|meeting|invested|passed)$")] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    found = _investor_or_empty(request, user, repository)
    if isinstance(found, Response):
        return found
    rows = _pipeline(repository, found.id, stage, q)
    paging = page_of(len(rows), page)
    context = {
        "user": user,
        "rows": rows[paging["offset"] : paging["offset"] + paging["size"]],
        "p": paging,
        "stage": stage,
        "q": q,
        "pipeline_stages": PIPELINE_STAGES,
        "pipeline_labels": PIPELINE_LABELS,
        "stage_label": stage_label,
        "lang": request.state.web_session.language,
    }
    return render(request, "pipeline.html", context)


def _export_rows(
    request: Request, repository: Repository, investor_id: int
) -> tuple[list[str], list[list[Any]]]:
    lang = request.state.web_session.language
    gettext = gettext_for(lang)
    header = [
        gettext("Startup"),
        gettext("Stage"),
        gettext("Industries"),
        gettext("District"),
        gettext("Funding sought (CNY)"),
        gettext("Pipeline"),
    ]
    body = [
        [
            row.startup.name,
            stage_label(row.startup.stage, lang),
            "、".join(industry_label(code, lang) for code in row.startup.industries),
            district_label(row.startup.district, lang),
            row.startup.funding_ask_cny,
            gettext(PIPELINE_LABELS[row.stage]),
        ]
        for row in _pipeline(repository, investor_id)
    ]
    return header, body


@router.get("/investor/pipeline.csv")
async def pipeline_csv(request: Request, user: InvestorUser, repository: RepositoryDep) -> Response:
    """UTF-8 with a byte-order mark, so Excel on Windows reads the Chinese right."""
    investor = my_investor(user, repository)
    if investor is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "this account runs no investor profile")
    header, body = _export_rows(request, repository, investor.id)
    return Response(
        csv_bytes(header, body),
        media_type=CSV_MEDIA,
        headers={"Content-Disposition": 'attachment; filename="pipeline.csv"'},
    )


@router.get("/investor/pipeline.xlsx")
async def pipeline_xlsx(request: Request, user: InvestorUser, repository: RepositoryDep) -> Response:
    investor = my_investor(user, repository)
    if investor is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "this account runs no investor profile")
    header, body = _export_rows(request, repository, investor.id)
    return Response(
        xlsx_bytes(header, body, sheet_title="pipeline"),
        media_type=XLSX_MEDIA,
        headers={"Content-Disposition": 'attachment; filename="pipeline.xlsx"'},
    )


THESIS_FIELDS = ("thesis", "industries", "stages", "districts", "ticket_min_wan", "ticket_max_wan")


@router.get("/investor/thesis")
async def thesis_page(request: Request, user: InvestorUser, repository: RepositoryDep) -> Response:
    found = _investor_or_empty(request, user, repository)
    if isinstance(found, Response):
        return found
    values = {
        "thesis": found.thesis,
        "industries": list(found.industries),
        "stages": list(found.stages),
        "districts": list(found.districts),
        "ticket_min_wan": str(found.ticket_min_cny // TEN_THOUSAND) if found.ticket_min_cny else "",
        "ticket_max_wan": str(found.ticket_max_cny // TEN_THOUSAND) if found.ticket_max_cny else "",
    }
    return render_form(request, "thesis.html", user, values, {})


@router.post("/investor/thesis")
async def save_thesis(
    request: Request, user: InvestorUser, form: FormDep, repository: RepositoryDep
) -> Response:
    investor = my_investor(user, repository)
    if investor is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "this account runs no investor profile")
    writable_row(user.principal, KIND_OF_ENTITY[EntityKind.investor], repository.session, investor.id)
    values = form_values(form, multi=("industries", "stages", "districts"))
    gettext = gettext_for(request.state.web_session.language)
    errors: dict[str, str] = {}
    low, high = optional_int(values.get("ticket_min_wan", "")), optional_int(values.get("ticket_max_wan", ""))
    for name, value in (("ticket_min_wan", low), ("ticket_max_wan", high)):
        if isinstance(value, str):
            errors[name] = gettext("Enter a whole number.")
    if errors:
        return render_form(request, "thesis.html", user, values, errors, status_code=422)
    changes = {
        "thesis": values.get("thesis", ""),
        "industries": values["industries"],
        "stages": values["stages"],
        "districts": values["districts"] or ["anywhere"],
        "ticket_min_cny": (low or 0) * TEN_THOUSAND,
        "ticket_max_cny": None if high is None else int(high) * TEN_THOUSAND,
    }
    spec = kind_spec("investors")
    try:
        model = repository.merged(spec, investor, changes)
    except ValidationError as error:
        found = field_errors(error, gettext)
        renamed = {
            "ticket_min_cny": "ticket_min_wan",
            "ticket_max_cny": "ticket_max_wan",
            "__all__": "ticket_max_wan",
        }
        errors = {renamed.get(k, k): v for k, v in found.items()}
        return render_form(request, "thesis.html", user, values, errors, status_code=422)
    watch = EligibilityWatch.of(request, EntityKind.investor, investor.id)
    repository.save(spec, investor, model)
    watch.announce(repository.session, investor)
    repository.session.commit()
    return RedirectResponse("/investor", status.HTTP_303_SEE_OTHER)
