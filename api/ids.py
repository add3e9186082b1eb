"""A row named in a path by its id (``/v1/startups/17``) or its external id (``/v1/startups/S-00001``).

One dependency for every route that takes ``{row_id}``: digits are the row id, anything else is
looked up as the external id of the kind the path names (the segment before ``{row_id}``). A
route elsewhere gets the row id either way, so ownership checks and handlers stay as they are.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.convertors import Convertor, register_url_convertor

from api.deps import SessionFactoryDep
from api.errors import ApiError
from models.kinds import KINDS
from models.rounds import AllocationRound
from models.schemas import MAX_ROW_ID

ROW_ID_FIELD = "path.row_id"
# The tables whose rows have an external id, by the path segment naming them.
_TABLES_BY_SEGMENT: dict[str, Any] = {spec.slug: spec.table for spec in KINDS.values()} | {
    "rounds": AllocationRound
}
_SEGMENT_BEFORE_ROW_ID = re.compile(r"/([^/{}]+)/\{row_id(?::\w+)?\}")


class RowRefConvertor(Convertor[str]):
    """``{row_id:ref}``: any one path segment except the sibling routes ``import`` and ``export``."""

    regex = r"(?!(?:import|export)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ref", RowRefConvertor())


def _table_of(request: Request) -> tuple[str, Any] | None:
    route = request.scope.get("route")
    found = _SEGMENT_BEFORE_ROW_ID.search(getattr(route, "path", ""))
    if found is None or found.group(1) not in _TABLES_BY_SEGMENT:
        return None
    return found.group(1), _TABLES_BY_SEGMENT[found.group(1)]


def _id_of_external(factory: sessionmaker[Session], table: Any, external_id: str) -> int | None:
    with factory() as session:
        found: int | None = session.scalar(select(table.id).where(table.external_id == external_id))
        return found


async def resolve_row_id(
    request: Request,
    factory: SessionFactoryDep,
    row_id: Annotated[
        str, Path(description="The row's id (17) or its external id (S-00001).", max_length=64)
    ],
) -> int:
    if row_id.isascii() and row_id.isdigit():
        number = int(row_id)
        if not 1 <= number <= MAX_ROW_ID:
            raise ApiError(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"an id is between 1 and {MAX_ROW_ID}, or an external id",
                field=ROW_ID_FIELD,
            )
        return number
    named = _table_of(request)
    if named is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, f"ids here are numbers, not '{row_id}'", field=ROW_ID_FIELD)
    segment, table = named
    found = await run_in_threadpool(_id_of_external, factory, table, row_id)
    if found is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            f"no {segment} with id or external id '{row_id}'",
            field=ROW_ID_FIELD,
        )
    return found


RowId = Annotated[int, Depends(resolve_row_id)]
