"""Every refusal as one structured body: a stable ``code``, a ``message`` and the ``field`` at fault.

``detail`` lists every problem in FastAPI's usual ``loc``/``msg``/``type`` form, so a client
can show them all; ``field`` and ``message`` repeat the first. Inputs are never echoed back:
a refused body may hold personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, params, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError
from models.transfer import ImportRowsError

logger = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"
# Codes for refusals that carry no more specific one.
_CODE_OF_STATUS = {
    status.HTTP_400_BAD_REQUEST: "bad_request",
    status.HTTP_401_UNAUTHORIZED: "unauthenticated",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_CONTENT_TOO_LARGE: "too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_422_UNPROCESSABLE_CONTENT: "invalid",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


class Problem(BaseModel):
    loc: list[str | int] = Field(description="Where: 'body', 'query' or 'path', then the field's path.")
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable: invalid, not_found, too_large, rate_limited …")
    message: str = Field(description="What is wrong, for a person.")
    field: str | None = Field(description="The field at fault, e.g. 'body.stage' or 'query.k'; null if none.")
    detail: list[Problem] = Field(description="Every problem found, the first one repeated above.")


class BadRow(BaseModel):
    row: int
    column: str
    reason: str


class ImportRejected(ErrorBody):
    rows: list[BadRow] = Field(
        default_factory=list, description="Every bad row (when the file was read); nothing was imported."
    )


class ApiError(Exception):
    """A refusal raised by a route: the status, the field at fault and why."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        field: str | None = None,
        code: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field
        self.code = code or _CODE_OF_STATUS.get(status_code, "error")
        self.headers = headers


# Documented on every operation, so clients (and schemathesis) know each refusal's shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": HTTPStatus(code).phrase}
    for code in (
        status.HTTP_400_BAD_REQUEST,
        status.HTTP_404_NOT_FOUND,
        status.HTTP_409_CONFLICT,
        status.HTTP_413_CONTENT_TOO_LARGE,
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        status.HTTP_422_UNPROCESSABLE_CONTENT,
    )
}
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "model": ErrorBody,
        "description": "Too many requests from this account or address; retry after the Retry-After header.",
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    }
}


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def error_response(
    status_code: int,
    message: str,
    *,
    field: str | None = None,
    code: str | None = None,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """One refusal; with no ``problems`` given, the field and message are the only one."""
    if not problems:
        loc: list[str | int] = list(field.split(".")) if field else []
        problems = [Problem(loc=loc, msg=message, type=code or _CODE_OF_STATUS.get(status_code, "error"))]
    body = ErrorBody(
        code=code or _CODE_OF_STATUS.get(status_code, "error"),
        message=message,
        field=field,
        detail=list(problems),
    )
    return JSONResponse(body.model_dump() | extra, status_code, headers=dict(headers or {}))


UNPARSABLE_REQUEST_MESSAGE = (
    "请求不是合法的 HTTP：网址中的中文等非 ASCII 字符须百分号编码 / the request is not valid HTTP: "
    "a URL must percent-encode non-ASCII characters, e.g. ?q=光谷 as ?q=%E5%85%89%E8%B0%B7 "
    "(curl: -G --data-urlencode 'q=光谷')"
)


def unparsable_request_body() -> bytes:
    """The 400 body for a request the HTTP parser refused before the application saw it."""
    response = error_response(status.HTTP_400_BAD_REQUEST, UNPARSABLE_REQUEST_MESSAGE, code="bad_request")
    return bytes(response.body)


def _problems(errors: Sequence[Any], prefix: Sequence[str] = ()) -> list[Problem]:
    return [Problem(loc=[*prefix, *error["loc"]], msg=error["msg"], type=error["type"]) for error in errors]


def _first(problems: Sequence[Problem]) -> tuple[str | None, str]:
    first = problems[0]
    return (_dotted(first.loc) or None), first.msg


def _wrong_media_type(request: Request, problems: Sequence[Problem]) -> str | None:
    """The media type sent, when a JSON body was refused whole because it was not JSON at all."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    if isinstance(route.body_field.field_info, params.Form):
        return None
    # A bad id names a resource that is not there: that answer comes before the body's.
    if any(p.loc[:1] == ["path"] for p in problems):
        return None
    if not any(p.loc == ["body"] and p.type != "missing" for p in problems):
        return None
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent == JSON_MEDIA_TYPE or sent.endswith("+json"):
        return None
    return sent or "none"


async def _request_invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = _problems(error.errors())
    sent = _wrong_media_type(request, problems)
    if sent is not None:
        return error_response(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"the body must be {JSON_MEDIA_TYPE}, not {sent}",
            field="body",
        )
    if any(p.type == "json_invalid" for p in problems):
        position = problems[0].loc[-1]
        return error_response(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the body is not valid JSON (at character {position})",
            field="body",
            code="malformed_json",
        )
    field, message = _first(problems)
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, message, field=field, problems=problems)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    field = "body" if error.status_code == status.HTTP_413_CONTENT_TOO_LARGE else None
    headers = dict(error.headers or {})
    if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers["Allow"] = _allowed_methods(request)
    return error_response(error.status_code, str(error.detail), field=field, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of the resource, where Starlette names only the first route that matched.

    A path both a static route and a parameterised one match (``/v1/spaces/import``) is the
    static route's resource, as in the OpenAPI document.
    """
    path = request.scope["path"]
    routes = [r for r in request.app.routes if isinstance(r, APIRoute) and r.path_regex.match(path)]
    fewest_params = min((len(r.param_convertors) for r in routes), default=0)
    methods = {m for r in routes if len(r.param_convertors) == fewest_params for m in r.methods or ()}
    return ", ".join(sorted(methods))


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(
        error.status_code, error.message, field=error.field, code=error.code, headers=error.headers
    )


async def _not_found(_request: Request, error: Exception) -> JSONResponse:
    return error_response(status.HTTP_404_NOT_FOUND, str(error), field="path.row_id")


async def _conflict(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ConflictError)
    return error_response(status.HTTP_409_CONFLICT, error.reason, field=f"body.{error.field}")


async def _reference(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ReferenceCheckError)
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, error.reason, field=f"body.{error.field}")


async def _invalid_merge(_request: Request, error: Exception) -> JSONResponse:
    # Raised when an update, merged with the stored profile, breaks a rule of the Create schema.
    assert isinstance(error, ValidationError)
    problems = _problems(
        error.errors(include_url=False, include_context=False, include_input=False), ["body"]
    )
    field, message = _first(problems)
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, message, field=field, problems=problems)


async def _bad_rows(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ImportRowsError)
    rows = [BadRow(row=p.row, column=p.column, reason=p.reason) for p in error.problems]
    problems = [Problem(loc=["body", "file", r.row, r.column], msg=r.reason, type="bad_row") for r in rows]
    return error_response(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"{error.summary()}. {error.lines()[0]}",
        field="body.file",
        code="bad_rows",
        problems=problems,
        rows=[row.model_dump() for row in rows],
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The traceback goes to the log, never to the client; the path carries no personal data.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error", code="internal")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(ReferenceCheckError, _reference)
    app.add_exception_handler(ValidationError, _invalid_merge)
    app.add_exception_handler(ImportRowsError, _bad_rows)
    app.add_exception_handler(Exception, _unexpected)
