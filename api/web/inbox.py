"""The in-app inbox, and password reset by an e-mailed link (one hour, one use)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select, update

from api.deps import RepositoryDep
from api.web.deps import FormDep, UserDep, WebSessionDep, page_of, render
from api.web.forms import form_values
from api.web.i18n import gettext_for
from api.web.notices import MESSAGES, both_languages, text
from models.notifications import Notification, OutboxMail, issue_reset, redeem_reset, reset_is_valid
from models.portal import MIN_PASSWORD_LENGTH, Login, hash_password, login_for

router = APIRouter(include_in_schema=False)


@router.get("/inbox")
async def inbox(
    request: Request,
    user: UserDep,
    repository: RepositoryDep,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    session = repository.session
    mine = select(Notification).where(Notification.account_id == user.principal.account_id)
    rows = list(session.scalars(mine.order_by(Notification.id.desc()).limit(1000)))
    lang = request.state.web_session.language
    items = [(row, text(row.kind, row.params, lang)) for row in rows if row.kind in MESSAGES]
    if q:
        items = [(row, line) for row, line in items if q.casefold() in line.casefold()]
    paging = page_of(len(items), page)
    shown = items[paging["offset"] : paging["offset"] + paging["size"]]
    unread = sum(1 for row, _ in items if row.read_at is None)
    return render(
        request, "inbox.html", {"user": user, "items": shown, "p": paging, "q": q, "unread": unread}
    )


@router.post("/inbox/read")
async def mark_read(user: UserDep, form: FormDep, repository: RepositoryDep) -> Response:
    repository.session.execute(
        update(Notification)
        .where(Notification.account_id == user.principal.account_id, Notification.read_at.is_(None))
        .values(read_at=dt.datetime.now(dt.UTC))
    )
    repository.session.commit()
    return RedirectResponse("/inbox", status.HTTP_303_SEE_OTHER)


@router.get("/password/forgot")
async def forgot_page(request: Request) -> Response:
    return render(request, "forgot.html", {"values": {}, "errors": {}, "sent": False})


@router.post("/password/forgot")
async def forgot(request: Request, form: FormDep, repository: RepositoryDep) -> Response:
    """The same answer whether or not an account exists, so the page tells no one who is registered."""
    values = form_values(form)
    login = login_for(repository.session, values.get("identifier", ""))
    if login is not None and login.email:
        token = issue_reset(repository.session, login.account_id)
        link = f"{request.base_url}password/reset?token={token}"
        subject, body = both_languages("password_reset", {"link": link})
        repository.session.add(OutboxMail(to_address=login.email, subject=subject, body=body))
        repository.session.commit()
    return render(request, "forgot.html", {"values": values, "errors": {}, "sent": True})


@router.get("/password/reset")
async def reset_page(
    request: Request, repository: RepositoryDep, token: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    valid = reset_is_valid(repository.session, token)
    return render(request, "reset.html", {"token": token, "valid": valid, "errors": {}, "values": {}})


@router.post("/password/reset")
async def reset(
    request: Request, form: FormDep, repository: RepositoryDep, session: WebSessionDep
) -> Response:
    token, password = str(form.get("token") or ""), str(form.get("password") or "")
    gettext = gettext_for(session.language)
    errors: dict[str, str] = {}
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = gettext("At least 8 characters.")
    elif password != str(form.get("password_again") or ""):
        errors["password_again"] = gettext("The two passwords differ.")
    if errors:
        context = {
            "token": token,
            "valid": reset_is_valid(repository.session, token),
            "errors": errors,
            "values": {},
        }
        return render(request, "reset.html", context, status_code=422)
    account_id = redeem_reset(repository.session, token)
    if account_id is None:
        return render(
            request, "reset.html", {"token": "", "valid": False, "errors": {}, "values": {}}, status_code=410
        )
    login = repository.session.scalar(select(Login).where(Login.account_id == account_id))
    assert login is not None
    login.password_hash = hash_password(password)
    repository.session.commit()
    session.sign_out()
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
