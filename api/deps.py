"""Request-scoped dependencies, declared once as ``Annotated`` types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from api.matcher_service import MatcherService
from models.repository import Repository
from models.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]


async def get_session(factory: SessionFactoryDep) -> AsyncIterator[Session]:
    """A session per request; handlers commit explicitly, anything uncommitted rolls back.

    ``async``, so opened and closed on the event loop: making a session does no I/O, closing
    one is a rollback at most, and a sync generator would cost two hops to a worker thread
    and back on every request.
    """
    with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


async def get_repository(session: SessionDep, settings: SettingsDep) -> Repository:
    return Repository(session, secret=settings.secret_key)


RepositoryDep = Annotated[Repository, Depends(get_repository)]


async def get_matcher_service(request: Request) -> MatcherService:
    service: MatcherService = request.app.state.matcher_service
    return service


MatcherServiceDep = Annotated[MatcherService, Depends(get_matcher_service)]
