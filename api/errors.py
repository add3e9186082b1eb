"""Domain errors as HTTP answers that name the field and the reason."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError
from models.transfer import ImportRowsError


def _field_error(status_code: int, field: str, reason: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["body", *field.split(".")], "msg": reason}]}, status_code)


async def _not_found(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status.HTTP_404_NOT_FOUND)


async def _conflict(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ConflictError)
    return _field_error(status.HTTP_409_CONFLICT, error.field, error.reason)


async def _reference(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ReferenceCheckError)
    return _field_error(status.HTTP_422_UNPROCESSABLE_CONTENT, error.field, error.reason)


async def _invalid_merge(_request: Request, error: Exception) -> JSONResponse:
    # Raised when an update, merged with the stored profile, breaks a rule of the Create schema.
    assert isinstance(error, ValidationError)
    details = [
        {"loc": ["body", *detail["loc"]], "msg": detail["msg"], "type": detail["type"]}
        for detail in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    return JSONResponse({"detail": details}, status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _bad_rows(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ImportRowsError)
    rows = [{"row": p.row, "column": p.column, "reason": p.reason} for p in error.problems]
    return JSONResponse(
        {"detail": "nothing was imported", "rows": rows}, status.HTTP_422_UNPROCESSABLE_CONTENT
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(ReferenceCheckError, _reference)
    app.add_exception_handler(ValidationError, _invalid_merge)
    app.add_exception_handler(ImportRowsError, _bad_rows)
