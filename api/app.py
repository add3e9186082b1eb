"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.docs import install_docs
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.limits import install_limits
from api.matcher_service import MatcherService
from api.routes import accounts, batch_runs, health, policies, recommendations, rounds, vocabularies
from api.routes.kinds import all_kind_routers
from api.security import AUTH_RESPONSES, PrincipalCache, document_policies, redact_access_log
from api.web.deps import WebUsers
from api.web.exposure import ShownLog, start_shown_log, stop_shown_log
from api.web.mail import start_outbox_worker, stop_outbox_worker
from api.web.portal import install_portal
from embeddings.index import one_thread_per_search
from matcher.policies import prepare_columns as prepare_policy_columns
from models.db import open_database
from models.policies import open_policies
from models.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine, app.state.session_factory = open_database(settings)
        app.state.settings = settings
        app.state.matcher_service = MatcherService(settings, app.state.session_factory)
        app.state.principals = PrincipalCache(app.state.session_factory, secret=settings.secret_key)
        app.state.matcher_service.on_changes(app.state.principals.changed)
        app.state.web_users = WebUsers()
        app.state.matcher_service.on_changes(app.state.web_users.changed)
        app.state.matcher_service.build()
        # After the build, which fixed the feed position: no policy edit falls between the two.
        app.state.policies = open_policies(app.state.session_factory, settings)
        app.state.matcher_service.on_changes(app.state.policies.changed)
        one_thread_per_search()  # after the build, whose index construction uses every core
        with app.state.matcher_service.reading() as matcher:
            prepare_policy_columns(app.state.policies.current().policies.values(), matcher.catalog_)
        outbox = start_outbox_worker(app.state.session_factory, settings)
        app.state.shown_log = ShownLog(app.state.session_factory)
        shown_writer = start_shown_log(app.state.shown_log)
        yield
        await stop_shown_log(app.state.shown_log, shown_writer)
        await stop_outbox_worker(outbox)
        engine.dispose()

    app = FastAPI(
        title="City Partner Matcher",
        summary="Matchmaking for Wuhan's City Partner plan (城市合伙人): founders, investors, mentors, "
        "spaces, practice bases and R&D posts.",
        version="0.1.0",
        lifespan=lifespan,
        # Served by install_docs from local files, never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_limits(app, settings)
    app.include_router(health.router)
    secured = ERROR_RESPONSES | AUTH_RESPONSES
    app.include_router(recommendations.router, responses=secured)
    app.include_router(accounts.router, responses=secured)
    app.include_router(rounds.router, responses=secured)
    app.include_router(batch_runs.router, responses=secured)
    app.include_router(policies.router, responses=secured)
    app.include_router(vocabularies.router, responses=secured)
    for router in all_kind_routers():
        app.include_router(router, responses=secured)
    install_docs(app)
    install_portal(app, settings)
    document_policies(app)
    redact_access_log()
    return app
