"""CRUD and bulk import for every kind, built from its :class:`models.kinds.KindSpec`.

No `from __future__ import annotations` here: FastAPI must see the per-kind schema classes,
which are local variables of the factory, as real annotations.
"""

import functools
import tempfile
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, Field, create_model

from api.deps import MatcherServiceDep, RepositoryDep, SessionFactoryDep, SettingsDep
from api.errors import RATE_LIMITED_RESPONSES, ApiError, ImportRejected
from api.ids import RowId
from api.limits import HeavyRateLimit
from api.security import (
    EVERYONE,
    KIND_POLICIES,
    Authenticated,
    Authorized,
    Principal,
    readable_row,
    refuse_admin_fields,
    refuse_unless_owned,
    writable_row,
)
from api.web.eligibility import EligibilityWatch, ImportWatch
from models.accounts import link_profile
from models.coercion import coercions
from models.db import SQL_INTEGER_MAX
from models.enums import EntityKind
from models.erasure import erase_person, purge_freed_pages
from models.kinds import KINDS, KindSpec
from models.transfer import SUPPORTED_SUFFIXES, ImportReport, export_file, import_file

MAX_PAGE_SIZE = 200
ExportFormat = Literal["csv", "xlsx", "json", "jsonl", "parquet"]
EXPORT_MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "parquet": "application/vnd.apache.parquet",
}
PublicT = TypeVar("PublicT", bound=BaseModel)


class Page(BaseModel, Generic[PublicT]):
    items: list[PublicT]
    total: int
    limit: int
    offset: int


class Normalisation(BaseModel):
    row: int
    field: str
    change: str = Field(description="given → stored, e.g. 'B+ → b'")


class ImportResult(BaseModel):
    kind: str
    created: int
    updated: int
    normalised: list[Normalisation] = Field(description="Every vocabulary value stored as another spelling.")


def _list_query_model(spec: KindSpec) -> type[BaseModel]:
    """The kind's filters plus pagination, one model so unknown query parameters are refused."""
    return create_model(
        f"{spec.filter_model.__name__}Query",
        __base__=spec.filter_model,
        __config__=None,
        limit=(int, Field(default=50, ge=1, le=MAX_PAGE_SIZE)),
        offset=(int, Field(default=0, ge=0, le=SQL_INTEGER_MAX)),
    )


def _written_model(spec: KindSpec) -> type[BaseModel]:
    """The Public schema plus what validation rewrote, answered to a create or an update."""
    return create_model(
        f"{spec.public.__name__}Written",
        __base__=spec.public,
        normalised=(
            dict[str, str],
            Field(
                default_factory=dict,
                description="Vocabulary values stored as another spelling's code, nested fields by "
                'path: {"stage": "B+ → b", "team.0.role": "合伙人 → cofounder"}.',
            ),
        ),
    )


async def _raw_body(request: Request) -> dict[str, Any]:
    """The JSON body as sent (already read and cached by the body's validation).

    A body that is no JSON at all reads as empty here: the body's own validation answers it
    (415 or 422 naming the body), which must not be pre-empted by a decoding error (a 500).
    """
    try:
        raw = await request.json()
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


RawBody = Annotated[dict[str, Any], Depends(_raw_body)]


def kind_router(spec: KindSpec) -> APIRouter:
    # Authentication first, so the rate limits below can count per account.
    router = APIRouter(prefix=f"/v1/{spec.slug}", tags=[spec.slug], dependencies=[Authenticated])
    policy = KIND_POLICIES[spec.slug]
    reader: Any = Annotated[Principal, Depends(Authorized(*EVERYONE))]
    creator: Any = Annotated[Principal, Depends(Authorized(*policy.creators))]
    owner: Any = Annotated[Principal, Depends(Authorized(*policy.owners))]
    create_schema: Any = spec.create
    update_schema: Any = spec.update
    public_schema: Any = spec.public
    written_schema: Any = _written_model(spec)
    list_query: Any = _list_query_model(spec)
    pagination = {"limit", "offset"}

    @router.get("", response_model=Page[public_schema], summary=f"List {spec.slug}")
    def list_rows(principal: reader, repository: RepositoryDep, query: Annotated[list_query, Query()]) -> Any:
        filters = spec.filter_model.model_validate(query.model_dump(exclude=pagination))
        rows, total = repository.list_rows(
            spec, filters, limit=query.limit, offset=query.offset, scope=policy.scope(principal, spec)
        )
        return {
            "items": repository.public(spec, rows),
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }

    # `:ref` (api/ids.py) is an id or an external id, never the sibling `/import` or `/export`.
    @router.get("/{row_id:ref}", response_model=public_schema, summary=f"Get one of {spec.slug}")
    def get_row(principal: reader, repository: RepositoryDep, row_id: RowId) -> Any:
        return repository.public(spec, [readable_row(principal, spec, repository.session, row_id)])[0]

    @router.post(
        "",
        response_model=written_schema,
        status_code=status.HTTP_201_CREATED,
        summary=f"Create in {spec.slug}",
    )
    def create_row(
        principal: creator,
        repository: RepositoryDep,
        service: MatcherServiceDep,
        body: create_schema,
        raw: RawBody,
    ) -> Any:
        refuse_admin_fields(principal, policy, body)
        row = repository.create(spec, body)
        if policy.link_created and spec.entity is not None and not principal.is_admin:
            link_profile(repository.session, principal.account_id, spec.entity, row.id)
        refuse_unless_owned(principal, policy, spec, row, repository.session)
        public = repository.public(spec, [row])[0]
        repository.session.commit()
        service.catch_up()
        return {**public.model_dump(), "normalised": coercions(raw, body)}

    @router.patch("/{row_id:ref}", response_model=written_schema, summary=f"Update one of {spec.slug}")
    def update_row(
        request: Request,
        principal: owner,
        repository: RepositoryDep,
        service: MatcherServiceDep,
        row_id: RowId,
        body: update_schema,
        raw: RawBody,
    ) -> Any:
        writable_row(principal, spec, repository.session, row_id)
        refuse_admin_fields(principal, policy, body)
        # A policy the edit makes the profile eligible for is told in the edit's transaction.
        watch = None if spec.entity is None else EligibilityWatch.of(request, spec.entity, row_id)
        row = repository.update(spec, row_id, body)
        refuse_unless_owned(principal, policy, spec, row, repository.session)
        if watch is not None:
            watch.announce(repository.session, row)
        public = repository.public(spec, [row])[0]
        repository.session.commit()
        service.catch_up()
        return {**public.model_dump(), "normalised": coercions(raw, body)}

    @router.delete(
        "/{row_id:ref}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete one of {spec.slug}"
    )
    def delete_row(
        principal: owner, repository: RepositoryDep, service: MatcherServiceDep, row_id: RowId
    ) -> Response:
        writable_row(principal, spec, repository.session, row_id)
        if spec.entity is EntityKind.person:
            erase_person(repository, row_id)
            repository.session.commit()
            purge_freed_pages(repository.session)
        else:
            repository.delete(spec, row_id)
            repository.session.commit()
        service.catch_up()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/import",
        response_model=ImportResult,
        summary=f"Import {spec.slug} from a CSV (UTF-8, GB18030/GBK or UTF-16), Excel, JSON or Parquet file "
        "(all or nothing)",
        responses={
            422: {"model": ImportRejected, "description": "Some rows are bad; nothing was written."},
            **RATE_LIMITED_RESPONSES,
        },
        # The role before the rate limit: a refused caller spends no one's quota.
        dependencies=[Depends(Authorized()), HeavyRateLimit],
    )
    def import_rows(
        request: Request,
        factory: SessionFactoryDep,
        settings: SettingsDep,
        service: MatcherServiceDep,
        file: Annotated[UploadFile, File()],
    ) -> Any:
        suffix = Path(file.filename or "").suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise ApiError(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"file type must be one of {', '.join(SUPPORTED_SUFFIXES)}",
                field="body.file",
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(file.file.read())
            # A profile the import makes eligible for a policy is told in the import's transaction.
            watch = None if spec.entity is None else ImportWatch.of(request, spec.entity)
            report: ImportReport = import_file(
                factory, spec, path, secret=settings.secret_key, before_commit=watch
            )
        service.catch_up()
        return report

    @router.get(
        "/export",
        summary=f"Export every row of {spec.slug} as a file (CSV with a BOM, Excel, JSON or Parquet)",
        response_class=Response,
        responses={200: {"content": {media: {} for media in EXPORT_MEDIA_TYPES.values()}}},
        dependencies=[Depends(Authorized()), HeavyRateLimit],
    )
    def export_rows(
        factory: SessionFactoryDep,
        settings: SettingsDep,
        format: Annotated[
            ExportFormat, Query(description="File type; csv opens in Excel as Chinese.")
        ] = "csv",
    ) -> Response:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{spec.slug}.{format}"
            export_file(factory, spec, path, secret=settings.secret_key)
            content = path.read_bytes()
        return Response(
            content,
            media_type=EXPORT_MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{spec.slug}.{format}"'},
        )

    return router


@functools.cache
def all_kind_routers() -> tuple[APIRouter, ...]:
    """Built once per process: the routers are stateless (limits and services live on
    ``app.state``), and analysing their ~60 routes' dependencies costs ~0.5 s an app."""
    return tuple(kind_router(spec) for spec in KINDS.values())
