"""Pages anyone may open: the welcome page, registration, sign-in and out, the language switch."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from api.deps import RepositoryDep
from api.errors import ApiError
from api.limits import RateLimiter
from api.web.deps import FormDep, OptionalUserDep, WebSessionDep, WebUser, render
from api.web.forms import _marker, field_errors, form_values
from api.web.i18n import gettext_for
from api.web.vocab import district_options
from models.accounts import create_account
from models.enums import AccountRole, InvestorType, PersonRole
from models.kinds import kind_spec
from models.portal import (
    MIN_PASSWORD_LENGTH,
    add_login,
    authenticate_password,
    identifier_kind,
    identifier_taken,
)
from models.schemas import InvestorCreate, MentorCreate, PersonCreate

router = APIRouter(include_in_schema=False)

# What each kind of person registering becomes: the account role and the person's role.
REGISTRATION_ROLES: dict[str, tuple[AccountRole, PersonRole]] = {
    "founder": (AccountRole.founder, PersonRole.founder),
    "student": (AccountRole.founder, PersonRole.student),
    "mentor": (AccountRole.mentor, PersonRole.industry_leader),
    "investor": (AccountRole.investor, PersonRole.investor_partner),
}
# Checked by programme staff before their profile is shown to anyone.
VERIFIED_LATER = frozenset({"mentor", "investor"})


class RegisterForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    kind: Literal["founder", "student", "mentor", "investor"]
    name: str = Field(min_length=1, max_length=200)
    identifier: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200)
    password_again: str
    district: str | None = None
    organisation: str | None = Field(default=None, max_length=200)
    investor_type: InvestorType | None = None
    consent: Literal["yes"]

    @field_validator("identifier")
    @classmethod
    def _email_or_phone(cls, value: str) -> str:
        if identifier_kind(value) is None:
            raise ValueError("identifier: not an email address or a mobile number")
        return value

    @field_validator("district", "organisation", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("investor_type", mode="before")
    @classmethod
    def _blank_type_is_none(cls, value: Any) -> Any:
        return value or None

    @model_validator(mode="after")
    def _investor_needs_firm(self) -> RegisterForm:
        if self.kind == "investor" and (not self.organisation or not self.investor_type):
            missing = "organisation" if not self.organisation else "investor_type"
            raise ValueError(f"{missing}: an investor names the firm and its type")
        return self


def role_home(user: WebUser) -> str:
    role = user.role
    if role is AccountRole.founder:
        return "/talent" if user.person_role == PersonRole.student.value else "/founder"
    return {
        AccountRole.investor: "/investor",
        AccountRole.mentor: "/mentor",
        AccountRole.operator: "/operator",
        AccountRole.admin: "/staff",
    }.get(role, "/requests")


def local_path(next_path: str | None, default: str = "/") -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not next_path:
        return default
    parts = urlsplit(next_path)
    if parts.scheme or parts.netloc or not next_path.startswith("/") or next_path.startswith("//"):
        return default
    return next_path


@router.get("/")
async def home(request: Request, user: OptionalUserDep) -> Response:
    if user is not None:
        return RedirectResponse(role_home(user), status.HTTP_303_SEE_OTHER)
    return render(request, "home.html")


@router.get("/lang/{language}")
async def switch_language(
    language: Literal["zh", "en"], session: WebSessionDep, next: Annotated[str | None, Query()] = None
) -> Response:
    session.switch_language(language)
    return RedirectResponse(local_path(next), status.HTTP_303_SEE_OTHER)


INVESTOR_TYPE_LABELS = {
    InvestorType.angel: _marker("Angel investor"),
    InvestorType.vc: _marker("Venture capital fund"),
    InvestorType.government_fund: _marker("Government guidance fund"),
    InvestorType.corporate_vc: _marker("Corporate venture capital"),
}


@router.get("/register")
async def register_page(request: Request, user: OptionalUserDep, kind: str = "founder") -> Response:
    return _register_form(request, {"kind": kind if kind in REGISTRATION_ROLES else "founder"}, {})


def _register_form(
    request: Request, values: dict[str, Any], errors: dict[str, str], code: int = 200
) -> Response:
    lang = request.state.web_session.language
    context = {
        "values": values,
        "errors": errors,
        "districts": district_options(lang),
        "investor_types": [(t.value, gettext_for(lang)(label)) for t, label in INVESTOR_TYPE_LABELS.items()],
    }
    return render(request, "register.html", context, status_code=code)


@router.post("/register")
async def register(
    request: Request, form: FormDep, repository: RepositoryDep, session: WebSessionDep
) -> Response:
    values = form_values(form)
    gettext = gettext_for(session.language)
    try:
        data = RegisterForm.model_validate(values)
    except ValidationError as error:
        return _register_form(request, values, _register_errors(error, gettext), 422)
    errors: dict[str, str] = {}
    if data.password != data.password_again:
        errors["password_again"] = gettext("The two passwords differ.")
    if identifier_taken(repository.session, data.identifier):
        errors["identifier"] = gettext("An account with this email or phone exists: sign in instead.")
    if errors:
        return _register_form(request, values, errors, 422)
    try:
        account_id = _create_person_account(repository, data)
    except ValidationError as error:
        repository.session.rollback()
        return _register_form(request, values, _register_errors(error, gettext), 422)
    repository.session.commit()
    session.sign_in(account_id)
    return RedirectResponse("/welcome", status.HTTP_303_SEE_OTHER)


def _register_errors(error: ValidationError, gettext: Any) -> dict[str, str]:
    errors = field_errors(error, gettext)
    for problem in error.errors():
        reason = str(problem.get("ctx", {}).get("error", ""))
        field = reason.partition(":")[0]
        if field in {"identifier", "organisation", "investor_type"}:
            errors.pop("__all__", None)
            message = (
                _marker("Enter an email address or a mobile number.")
                if field == "identifier"
                else _marker("An investor names the firm and its type.")
            )
            errors[field] = gettext(message)
    if "consent" in errors:
        errors["consent"] = gettext("Matching needs your consent.")
    return errors


def _create_person_account(repository: RepositoryDep, data: RegisterForm) -> int:
    """The person, their account and login, and for an investor or mentor the (inactive until
    verified) profile they run: one transaction, validated before anything is kept."""
    account_role, person_role = REGISTRATION_ROLES[data.kind]
    kind = identifier_kind(data.identifier)
    person = repository.create(
        kind_spec("persons"),
        PersonCreate(
            name=data.name,
            role=person_role,
            district=data.district,
            email=data.identifier if kind == "email" else None,
            phone=data.identifier if kind == "phone" else None,
        ),
    )
    account = create_account(repository.session, name=data.name, role=account_role, person_id=person.id)
    add_login(
        repository.session, account, data.identifier, data.password, verified=data.kind not in VERIFIED_LATER
    )
    if data.kind == "investor":
        assert data.investor_type is not None
        assert data.organisation is not None
        repository.create(
            kind_spec("investors"),
            InvestorCreate(
                name=data.organisation,
                investor_type=data.investor_type,
                district=data.district,
                partner_external_id=person.external_id,
                active=False,
            ),
        )
    elif data.kind == "mentor":
        repository.create(
            kind_spec("mentors"),
            MentorCreate(
                name=data.name, district=data.district, person_external_id=person.external_id, active=False
            ),
        )
    return account.id


@router.get("/welcome")
async def welcome(request: Request, user: OptionalUserDep) -> Response:
    if user is None:
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    return render(request, "welcome.html", {"user": user, "next": role_home(user)})


@router.get("/login")
async def login_page(request: Request, user: OptionalUserDep, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(local_path(next, role_home(user)), status.HTTP_303_SEE_OTHER)
    return render(request, "login.html", {"values": {"next": next or ""}, "errors": {}})


@router.post("/login")
async def login(
    request: Request, form: FormDep, repository: RepositoryDep, session: WebSessionDep
) -> Response:
    values = form_values(form)
    gettext = gettext_for(session.language)
    identifier, password = values.get("identifier", ""), str(form.get("password") or "")
    _limit_sign_in(request, identifier)
    account = (
        authenticate_password(repository.session, identifier, password) if identifier and password else None
    )
    if account is None:
        errors = {"identifier": gettext("Wrong email/phone or password.")}
        return render(request, "login.html", {"values": values, "errors": errors}, status_code=401)
    repository.session.commit()  # a rehashed password
    session.sign_in(account.id)
    return RedirectResponse(local_path(values.get("next"), "/"), status.HTTP_303_SEE_OTHER)


def _limit_sign_in(request: Request, identifier: str) -> None:
    """Guessing passwords is slowed per identifier and per address, with the API's limiter."""
    limiter: RateLimiter = request.app.state.sign_in_limiter
    ip = request.client.host if request.client else "unknown"
    wait = limiter.wait_for(account=identifier.strip().lower() or None, ip=ip)
    if wait:
        seconds = math.ceil(wait)
        raise ApiError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many sign-in attempts; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


@router.post("/logout")
async def logout(form: FormDep, session: WebSessionDep) -> Response:
    session.sign_out()
    return RedirectResponse("/", status.HTTP_303_SEE_OTHER)
