"""Editing capacity on the portal: a space's seats, a mentor's mentee places, a practice base's
slots, an R&D post's headcount. The write is the API's: the kind's owner roles, the owner's
row only, validated on top of the stored profile by the repository."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import MatcherServiceDep, RepositoryDep
from api.ids import RowId
from api.security import KIND_POLICIES, Authorized, writable_row
from api.web.deps import FormDep, UserDep, WebUser
from api.web.eligibility import EligibilityWatch
from api.web.forms import _marker, field_errors, optional_int, render_form
from api.web.i18n import Gettext, gettext_for
from models.enums import EntityKind
from models.kinds import KIND_OF_ENTITY


@dataclass(frozen=True)
class CapacityForm:
    kind: EntityKind
    title: str
    # (field, label): the whole first, then the part of it that is free or taken
    fields: tuple[tuple[str, str], ...]
    back: str  # the owner's page, formatted with the row id
    # Said on the last field when the part taken or free exceeds the whole
    too_many: str = _marker("This cannot exceed the total.")

    def labels(self, gettext: Gettext) -> list[tuple[str, str]]:
        return [(name, gettext(label)) for name, label in self.fields]


FORMS = {
    "space": CapacityForm(
        EntityKind.space,
        _marker("Seats"),
        (("seats_total", _marker("Seats in total")), ("seats_vacant", _marker("Seats vacant"))),
        "/operator?space={id}",
    ),
    "mentor": CapacityForm(
        EntityKind.mentor,
        _marker("Mentee places"),
        (("max_mentees", _marker("Most mentees at a time")),),
        "/mentor",
        _marker("Fewer than the mentees you have now."),
    ),
    "practice_base": CapacityForm(
        EntityKind.practice_base,
        _marker("Practice slots"),
        (("slots_total", _marker("Slots in total")), ("slots_free", _marker("Slots free"))),
        "/openings?kind=practice_base&id={id}",
    ),
    "post": CapacityForm(
        EntityKind.post,
        _marker("Headcount"),
        (("headcount", _marker("Headcount")),),
        "/openings?kind=post&id={id}",
    ),
}
router = APIRouter(include_in_schema=False)
KindName = Annotated[str, Path(pattern="^(space|mentor|practice_base|post)$")]


def _owned_row(user: WebUser, repository: RepositoryDep, form: CapacityForm, row_id: int) -> Any:
    """The API's rules for a write: one of the kind's owner roles (or admin), and the row theirs."""
    spec = KIND_OF_ENTITY[form.kind]
    Authorized(*KIND_POLICIES[spec.slug].owners).admit(user.principal)
    return writable_row(user.principal, spec, repository.session, row_id)


def _page(
    request: Request,
    user: WebUser,
    form: CapacityForm,
    row: Any,
    values: dict[str, Any],
    errors: dict[str, str],
) -> Response:
    gettext = gettext_for(request.state.web_session.language)
    return render_form(
        request,
        "capacity.html",
        user,
        values,
        errors,
        pickers={},
        extra={"form": form, "row": row, "labels": form.labels(gettext)},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
    )


@router.get("/capacity/{kind}/{row_id}")
async def capacity_page(
    request: Request, user: UserDep, repository: RepositoryDep, kind: KindName, row_id: RowId
) -> Response:
    form = FORMS[kind]
    row = _owned_row(user, repository, form, row_id)
    values = {name: str(getattr(row, name)) for name, _ in form.fields}
    return _page(request, user, form, row, values, {})


@router.post("/capacity/{kind}/{row_id}")
async def save_capacity(
    request: Request,
    user: UserDep,
    posted: FormDep,
    repository: RepositoryDep,
    service: MatcherServiceDep,
    kind: KindName,
    row_id: RowId,
) -> Response:
    """Validated as a whole on top of the stored profile; a refusal keeps what was typed and
    writes nothing."""
    form = FORMS[kind]
    row = _owned_row(user, repository, form, row_id)
    gettext = gettext_for(request.state.web_session.language)
    values = {name: str(posted.get(name) or "").strip() for name, _ in form.fields}
    numbers = {name: optional_int(text) for name, text in values.items()}
    required, whole = gettext("This field is required."), gettext("Enter a whole number.")
    errors = {
        name: required if number is None else whole
        for name, number in numbers.items()
        if not isinstance(number, int)
    }
    if not errors:
        spec = KIND_OF_ENTITY[form.kind]
        try:
            model = repository.merged(spec, row, numbers)
        except ValidationError as error:
            errors = field_errors(error, gettext)
            if "__all__" in errors:  # the part above the whole: said on the part's field
                errors = {form.fields[-1][0]: gettext(form.too_many)} | {
                    k: v for k, v in errors.items() if k != "__all__"
                }
        else:
            watch = EligibilityWatch.of(request, form.kind, row.id)
            repository.save(spec, row, model)
            watch.announce(repository.session, row)
            repository.session.commit()
            service.catch_up()
            return RedirectResponse(form.back.format(id=row.id), status.HTTP_303_SEE_OTHER)
    repository.session.rollback()
    return _page(request, user, form, row, values, errors)
