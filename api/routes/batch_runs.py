"""Batch recommendation runs (`matcher batch recommend`), read by the staff dashboard. Admin only."""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel

from api.deps import SessionDep
from api.errors import ApiError
from api.ids import RowId
from api.security import Authorized
from models.batch_runs import run_of, run_rows
from models.db import SQL_INTEGER_MAX
from models.enums import EntityKind

router = APIRouter(prefix="/v1/batch-runs", tags=["batch runs"], dependencies=[Depends(Authorized())])


class BatchRowPublic(BaseModel):
    asker_id: int
    rank: int
    candidate_id: int
    score: float


class BatchRunPublic(BaseModel):
    id: int
    direction: str
    asker_kind: EntityKind
    candidate_kind: EntityKind
    k: int
    askers: int
    created_at: dt.datetime
    finished_at: dt.datetime | None
    items: list[BatchRowPublic]


@router.get("/{row_id}", response_model=BatchRunPublic, summary="A batch run's recommendations")
def batch_run(
    session: SessionDep,
    row_id: RowId,
    asker_id: Annotated[
        int | None, Query(ge=1, le=SQL_INTEGER_MAX, description="Only this asker's rows.")
    ] = None,
) -> Any:
    """The run and its rows by asker then rank (one asker's, with asker_id); rows of an unfinished
    run are those of the units done so far."""
    run = run_of(session, row_id)
    if run is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, f"no batch run {row_id}", field="path.row_id")
    return BatchRunPublic(
        id=run.id,
        direction=run.direction,
        asker_kind=run.asker_kind,
        candidate_kind=run.candidate_kind,
        k=run.k,
        askers=run.askers,
        created_at=run.created_at,
        finished_at=run.finished_at,
        items=[
            BatchRowPublic.model_validate(r, from_attributes=True)
            for r in run_rows(session, row_id, asker_id)
        ],
    )
