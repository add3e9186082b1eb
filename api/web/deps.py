"""What every page needs: the session, the signed-in person (as the API's :class:`Principal`),
the role checks the API uses, CSRF-checked forms, and rendering in the page's language."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.deps import SessionDep
from api.errors import ApiError
from api.matcher_service import MatcherService
from api.security import Authorized, Principal
from api.web.i18n import gettext_for
from api.web.session import SessionCodec, WebSession
from models.changes import FeedEntry, Topic
from models.enums import AccountRole
from models.portal import Login
from models.tables import Account, Person

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.autoescape = True
PAGE_SIZE = 20


class SignInRequiredError(Exception):
    """Raised by a page that needs a signed-in person; answered with a redirect to sign-in."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def web_session(request: Request) -> WebSession:
    session: WebSession = request.state.web_session
    return session


def session_codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.state.session_codec
    return codec


WebSessionDep = Annotated[WebSession, Depends(web_session)]


@dataclass(frozen=True)
class WebUser:
    """The signed-in person: the API's principal plus what pages show about them."""

    principal: Principal
    name: str
    verified: bool
    card_tier: str | None
    person_role: str | None

    @property
    def role(self) -> AccountRole:
        return self.principal.role


def _load_user(db: Session, account_id: int) -> WebUser | None:
    account = db.get(Account, account_id)
    if account is None or not account.active:
        return None
    verified = db.scalar(select(Login.verified).where(Login.account_id == account_id))
    person = db.get(Person, account.person_id) if account.person_id else None
    return WebUser(
        principal=Principal.of(db, account),
        name=person.name if person else account.name,
        verified=bool(verified) or account.role is AccountRole.admin,
        card_tier=person.card_tier.value if person else None,
        person_role=person.role.value if person else None,
    )


class WebUsers:
    """The signed-in people, remembered until the change feed reports a write that could alter
    one: to accounts, logins or profiles (ownership follows teams and operators), as the API's
    key cache does. Without it every page read the account, its login, its person and every
    profile it owns before doing its own work.

    A lookup that raced such a change is not kept: its generation is stale by then.
    """

    def __init__(self, *, max_size: int = 10_000) -> None:
        self.max_size = max_size
        self._known: dict[int, WebUser] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, db: Session, account_id: int) -> WebUser | None:
        known = self._known.get(account_id)
        if known is not None:
            return known
        generation = self._generation
        user = _load_user(db, account_id)
        with self._lock:
            if user is not None and generation == self._generation:
                if len(self._known) >= self.max_size:
                    self._known.clear()
                self._known[account_id] = user
        return user

    def changed(self, entries: Sequence[FeedEntry]) -> None:
        if any(entry.topic != Topic.interactions for entry in entries):
            with self._lock:
                self._generation += 1
                self._known.clear()


async def optional_user(request: Request, session: WebSessionDep, db: SessionDep) -> WebUser | None:
    if session.account_id is None:
        return None
    await catch_up(request)
    users: WebUsers = request.app.state.web_users
    user = users.get(db, session.account_id)
    if user is None:
        session.sign_out()
    return user


async def catch_up(request: Request) -> None:
    """The matcher as of the last committed write: a page shown after a write must see it."""
    service: MatcherService = request.app.state.matcher_service
    if service.behind():
        await run_in_threadpool(service.catch_up)


OptionalUserDep = Annotated[WebUser | None, Depends(optional_user)]


async def signed_in(request: Request, user: OptionalUserDep) -> WebUser:
    if user is None:
        raise SignInRequiredError(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return user


UserDep = Annotated[WebUser, Depends(signed_in)]


class Role:
    """A page for these roles (and admin), checked by the API's own :class:`Authorized`."""

    def __init__(self, *roles: AccountRole) -> None:
        self.authorized = Authorized(*roles)

    async def __call__(self, user: UserDep) -> WebUser:
        self.authorized.admit(user.principal)
        return user


def sign_in_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='/')}"


async def checked_form(request: Request, session: WebSessionDep) -> FormData:
    """The posted form, refused (403) unless it carries this session's CSRF token, as a field
    or, for htmx requests, as the ``X-CSRF-Token`` header."""
    form = await request.form()
    token = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not session_codec(request).csrf_valid(session, token if isinstance(token, str) else None):
        raise ApiError(
            status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or stale", field="csrf_token"
        )
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    session = web_session(request)
    base = {
        "_": gettext_for(session.language),
        "lang": session.language,
        "csrf_token": session_codec(request).csrf_token(session),
        "path": request.url.path,
        "query": request.url.query,
        "user": None,
    }
    return TEMPLATES.TemplateResponse(request, template, base | (context or {}), status_code=status_code)


def page_of(total: int, page: int, size: int = PAGE_SIZE) -> dict[str, int]:
    pages = max(1, -(-total // size))
    current = min(max(1, page), pages)
    return {"page": current, "pages": pages, "total": total, "offset": (current - 1) * size, "size": size}
