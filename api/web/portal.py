"""Puts the portal into the API's FastAPI app: its routers, static files, session middleware,
sign-in limiter, and errors answered as pages (the API keeps its JSON errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiError
from api.limits import RateLimiter
from api.web import auth, capacity, founder, inbox, investor, openings, people, policies, rounds, staff
from api.web.deps import SignInRequiredError, render, sign_in_url
from api.web.i18n import gettext_for
from api.web.session import PortalSessions, is_portal_path
from models.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _marker(text: str) -> str:
    return text


_TITLES = {
    status.HTTP_401_UNAUTHORIZED: _marker("Please sign in"),
    status.HTTP_403_FORBIDDEN: _marker("Not allowed"),
    status.HTTP_404_NOT_FOUND: _marker("Not found"),
    status.HTTP_405_METHOD_NOT_ALLOWED: _marker("Not found"),
    status.HTTP_409_CONFLICT: _marker("Not possible now"),
    status.HTTP_429_TOO_MANY_REQUESTS: _marker("Too many attempts"),
}
_MESSAGES = {
    status.HTTP_403_FORBIDDEN: _marker("This page or action is not open to your account."),
    status.HTTP_404_NOT_FOUND: _marker("There is nothing here, or it is not yours to see."),
    status.HTTP_405_METHOD_NOT_ALLOWED: _marker("There is nothing here, or it is not yours to see."),
    status.HTTP_409_CONFLICT: _marker("This step is not possible in the current state."),
    status.HTTP_429_TOO_MANY_REQUESTS: _marker(
        "Too many attempts in a short time; wait a minute and try again."
    ),
}
_CSRF_MESSAGE = _marker("The form has expired. Go back, reload the page and try again.")


def install_portal(app: FastAPI, settings: Settings) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, capacity, founder, inbox, investor, openings, people, policies, rounds, staff):
        app.include_router(module.router)
    app.state.sign_in_limiter = RateLimiter(
        per_account=settings.sign_in_limit_per_identifier, per_ip=settings.sign_in_limit_per_ip
    )
    app.add_middleware(
        PortalSessions, secret=settings.secret_key, secure_cookie=settings.environment == "production"
    )
    app.add_exception_handler(SignInRequiredError, _sign_in_first)
    for error_class in (ApiError, StarletteHTTPException):
        app.add_exception_handler(error_class, _as_page(app.exception_handlers[error_class]))


async def _sign_in_first(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequiredError)
    if request.headers.get("hx-request"):
        return Response(
            status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": sign_in_url(error.next_path)}
        )
    return RedirectResponse(sign_in_url(error.next_path), status.HTTP_303_SEE_OTHER)


def _as_page(api_handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A browser on a portal path gets an error page in its language; anything else (API paths,
    clients that do not ask for HTML) the API's JSON body."""

    async def handle(request: Request, error: Exception) -> Response:
        wants_page = "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request")
        if (
            not wants_page
            or not is_portal_path(request.url.path)
            or getattr(request.state, "web_session", None) is None
        ):
            answer = api_handler(request, error)
            return answer if isinstance(answer, Response) else await answer
        code = getattr(error, "status_code", status.HTTP_500_INTERNAL_SERVER_ERROR)
        gettext = gettext_for(request.state.web_session.language)
        field = getattr(error, "field", None)
        message = (
            _CSRF_MESSAGE if field == "csrf_token" else _MESSAGES.get(code, _marker("Something went wrong."))
        )
        context = {
            "title": gettext(_TITLES.get(code, _marker("Something went wrong"))),
            "message": gettext(message),
        }
        response = render(request, "error.html", context, status_code=code)
        for name, value in (getattr(error, "headers", None) or {}).items():
            response.headers[name] = value
        return response

    return handle
