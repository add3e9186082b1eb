"""`matcher batch …`: jobs over the whole catalogue, run on Ray Data (matcher/batch.py)."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import TYPE_CHECKING, Annotated

import typer

from models.enums import EntityKind
from models.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from matcher.batch import RecommendRun
    from matcher.directions import Direction
    from matcher.matcher import Matcher
    from models.batch_runs import Unit

EXIT_BAD_INPUT = 2
DEFAULT_K = 20

app = typer.Typer(help="Batch jobs over the whole catalogue, on Ray.", no_args_is_help=True)

WorkersOption = Annotated[
    int, typer.Option("--workers", min=1, max=64, help="Ray workers (local CPUs when RAY_ADDRESS is unset).")
]


def _bad_input(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def read_only_matcher(settings: Settings, kinds: Collection[EntityKind]) -> Matcher:
    """The matcher between ``kinds`` from the state saved in the data folder, as `matcher
    recommend` opens it: what each batch worker opens once."""
    from api.matcher_service import MatcherService
    from models.db import engine_for, session_factory

    engine = engine_for(settings)
    service = MatcherService(settings, session_factory(engine))
    service.build(kinds=kinds)
    engine.dispose()
    with service.reading() as matcher:
        return matcher


def recommend_run(settings: Settings, run_id: int, direction: Direction, k: int) -> RecommendRun:
    """What each worker of run ``run_id`` needs: the direction's kinds (and startups, which a
    founder asks for), the database, and the saved matcher to open."""
    from matcher.batch import RecommendRun

    kinds = frozenset({direction.asker_kind, direction.candidate_kind, EntityKind.startup})
    return RecommendRun(
        run_id=run_id,
        asker_kind=direction.asker_kind,
        candidate_kind=direction.candidate_kind,
        k=k,
        database_url=settings.resolved_database_url,
        open_matcher=functools.partial(read_only_matcher, settings, kinds),
    )


@app.command("recommend")
def recommend(
    direction: Annotated[
        str | None,
        typer.Option(
            "--direction", help="ASKER→CANDIDATE (or ->), e.g. startup→investor.", show_default=False
        ),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option("--k", "-k", min=1, max=100, help=f"Matches per asker [default: {DEFAULT_K}]."),
    ] = None,
    workers: WorkersOption = 1,
    unit_size: Annotated[
        int, typer.Option("--unit-size", min=1, help="Askers per unit of work (each recorded when done).")
    ] = 200,
    resume: Annotated[
        int | None, typer.Option("--resume", help="Resume this unfinished run.", show_default=False)
    ] = None,
) -> None:
    """The top k for every profile of the direction's asking kind, into the batch_recommendations table.

    A killed run resumes where it stopped: with --resume RUN_ID, or by asking again for the same
    direction and k (the newest unfinished such run is taken up).
    """
    from tqdm import tqdm

    from matcher.batch import ray_session, recommend_units
    from models.batch_runs import finish_run
    from models.db import open_database, transaction

    settings = Settings()
    _, factory = open_database(settings)
    chosen, k, run_id, units = _run_to_do(factory, direction, k, resume, unit_size)
    run = recommend_run(settings, run_id, chosen, k)
    total = sum(unit.askers for unit in units)
    with ray_session(workers), tqdm(total=total, desc=f"run {run_id}", unit="profile") as bar:
        answered = recommend_units(run, units, workers=workers, progress=bar.update)
    with transaction(factory) as session:
        finished = finish_run(session, run_id)
    state = "finished" if finished else "unfinished: run it again to resume"
    typer.echo(f"run {run_id} ({chosen.name}, k={k}): {answered} profiles answered now; {state}")


def _run_to_do(
    factory: sessionmaker[Session], direction: str | None, k: int | None, resume: int | None, unit_size: int
) -> tuple[Direction, int, int, list[Unit]]:
    """The direction, k, run id and pending units: of the run to resume, or of a new run."""
    from matcher.batch import direction_named
    from models.batch_runs import asker_ids, pending_units, plan_units, run_of, start_run, unfinished_run
    from models.db import transaction

    with transaction(factory) as session:
        if resume is not None:
            run = run_of(session, resume)
            if run is None:
                raise _bad_input(f"--resume: no batch run {resume}")
            if run.finished_at is not None:
                raise _bad_input(f"--resume: run {resume} finished already")
            if k is not None and k != run.k:
                raise _bad_input(f"--k: run {resume} was started with k={run.k}")
            direction = direction or run.direction
        if direction is None:
            raise _bad_input("--direction: required (or --resume RUN_ID)")
        try:
            chosen = direction_named(direction)
        except ValueError as error:
            raise _bad_input(str(error)) from None
        if resume is not None:
            run = run_of(session, resume)
            assert run is not None  # checked above
            if run.direction != chosen.name:
                raise _bad_input(f"--direction: run {resume} is {run.direction}, not {chosen.name}")
            return chosen, run.k, resume, pending_units(session, resume)
        k = k or DEFAULT_K
        unfinished = unfinished_run(session, chosen.name, k)
        if unfinished is not None:
            typer.echo(f"resuming run {unfinished} ({chosen.name}, k={k})")
            return chosen, k, unfinished, pending_units(session, unfinished)
        units = plan_units(asker_ids(session, chosen.asker_kind), unit_size)
        run_id = start_run(session, chosen.name, (chosen.asker_kind, chosen.candidate_kind), k, units)
        return chosen, k, run_id, units


@app.command("embed")
def embed(
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="Re-encode only these kinds' texts (repeat); all by default.", show_default=False
        ),
    ] = None,
    workers: WorkersOption = 1,
) -> None:
    """Encode the texts the embedding cache lacks for the configured encoder, then save the indexes.

    After a model change that is every text; the next start loads the saved indexes.
    """
    from api.matcher_service import MatcherService
    from embeddings.cache import EmbeddingCache
    from matcher.batch import catalogue_texts, encode_missing, ray_session
    from models.db import open_database

    chosen = [_profile_kind_or_exit(kind) for kind in kinds or []] or list(EntityKind)
    settings = Settings()
    engine, factory = open_database(settings)
    with factory() as session:
        texts = catalogue_texts(session, chosen)
    with EmbeddingCache.for_settings(settings) as cache, ray_session(workers):
        encoded = encode_missing(
            texts, encoder_name=settings.encoder, cache=cache, workers=workers, show_progress=True
        )
    MatcherService(settings, factory).build(show_progress=True)
    engine.dispose()
    typer.echo(f"{encoded} of {len(texts)} texts encoded; indexes saved in {settings.index_dir}")


def _profile_kind_or_exit(name: str) -> EntityKind:
    from models.kinds import kind_spec

    try:
        entity = kind_spec(name).entity
    except ValueError as error:
        raise _bad_input(f"--kind: {error}") from None
    if entity is None:
        raise _bad_input(f"--kind: {name} has no texts to encode")
    return EntityKind(entity)
