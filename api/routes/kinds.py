"""CRUD and bulk import for every kind, built from its :class:`models.kinds.KindSpec`.

No `from __future__ import annotations` here: FastAPI must see the per-kind schema classes,
which are local variables of the factory, as real annotations.
"""

import tempfile
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, File, HTTPException, Query, Response, UploadFile, status
from pydantic import BaseModel, Field, create_model

from api.deps import MatcherDep, RepositoryDep, SessionFactoryDep, SettingsDep
from models.kinds import KINDS, KindSpec
from models.transfer import SUPPORTED_SUFFIXES, ImportReport, import_file

MAX_PAGE_SIZE = 200
PublicT = TypeVar("PublicT", bound=BaseModel)


class Page(BaseModel, Generic[PublicT]):
    items: list[PublicT]
    total: int
    limit: int
    offset: int


class ImportResult(BaseModel):
    kind: str
    created: int
    updated: int


class BadRow(BaseModel):
    row: int
    column: str
    reason: str


class ImportRejected(BaseModel):
    detail: str
    rows: list[BadRow]


def _list_query_model(spec: KindSpec) -> type[BaseModel]:
    """The kind's filters plus pagination, one model so unknown query parameters are refused."""
    return create_model(
        f"{spec.filter_model.__name__}Query",
        __base__=spec.filter_model,
        __config__=None,
        limit=(int, Field(default=50, ge=1, le=MAX_PAGE_SIZE)),
        offset=(int, Field(default=0, ge=0)),
    )


def kind_router(spec: KindSpec) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{spec.slug}", tags=[spec.slug])
    create_schema: Any = spec.create
    update_schema: Any = spec.update
    public_schema: Any = spec.public
    list_query: Any = _list_query_model(spec)
    pagination = {"limit", "offset"}

    @router.get("", response_model=Page[public_schema], summary=f"List {spec.slug}")
    def list_rows(repository: RepositoryDep, query: Annotated[list_query, Query()]) -> Any:
        filters = spec.filter_model.model_validate(query.model_dump(exclude=pagination))
        rows, total = repository.list_rows(spec, filters, limit=query.limit, offset=query.offset)
        return {
            "items": repository.public(spec, rows),
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }

    @router.get("/{row_id}", response_model=public_schema, summary=f"Get one of {spec.slug}")
    def get_row(repository: RepositoryDep, row_id: int) -> Any:
        return repository.public(spec, [repository.get(spec, row_id)])[0]

    @router.post(
        "",
        response_model=public_schema,
        status_code=status.HTTP_201_CREATED,
        summary=f"Create in {spec.slug}",
    )
    def create_row(repository: RepositoryDep, matcher: MatcherDep, body: create_schema) -> Any:
        row = repository.create(spec, body)
        public = repository.public(spec, [row])[0]
        repository.session.commit()
        matcher.saved(spec, row)
        return public

    @router.patch("/{row_id}", response_model=public_schema, summary=f"Update one of {spec.slug}")
    def update_row(repository: RepositoryDep, matcher: MatcherDep, row_id: int, body: update_schema) -> Any:
        row = repository.update(spec, row_id, body)
        public = repository.public(spec, [row])[0]
        repository.session.commit()
        matcher.saved(spec, row)
        return public

    @router.delete("/{row_id}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete one of {spec.slug}")
    def delete_row(repository: RepositoryDep, matcher: MatcherDep, row_id: int) -> Response:
        repository.delete(spec, row_id)
        repository.session.commit()
        matcher.deleted(spec, row_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/import",
        response_model=ImportResult,
        summary=f"Import {spec.slug} from a CSV, JSON or Parquet file (all or nothing)",
        responses={422: {"model": ImportRejected, "description": "Some rows are bad; nothing was written."}},
    )
    def import_rows(
        factory: SessionFactoryDep,
        settings: SettingsDep,
        matcher: MatcherDep,
        file: Annotated[UploadFile, File()],
    ) -> Any:
        suffix = Path(file.filename or "").suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {
                        "loc": ["body", "file"],
                        "msg": f"file type must be one of {', '.join(SUPPORTED_SUFFIXES)}",
                    }
                ],
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(file.file.read())
            report: ImportReport = import_file(factory, spec, path, secret=settings.secret_key)
        matcher.build(refit_lexical=True)
        return {"kind": report.kind, "created": report.created, "updated": report.updated}

    return router


def all_kind_routers() -> list[APIRouter]:
    return [kind_router(spec) for spec in KINDS.values()]
