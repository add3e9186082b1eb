"""``matcher round …``: create, solve, show, review and publish allocation rounds."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import open_database
from models.refs import ReferenceCheckError
from models.repository import ConflictError, NotFoundError, Repository
from models.settings import Settings

if TYPE_CHECKING:
    from models.rounds import ProposalPublic, RoundStore

app = typer.Typer(
    help="Allocation rounds: fill seats, slots and mentor places under capacity.", no_args_is_help=True
)
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3

RoundArgument = Annotated[str, typer.Argument(help="The round's id or external id.")]


@contextmanager
def _store(settings: Settings, factory: sessionmaker[Session] | None = None) -> Iterator[RoundStore]:
    """A store over one session; domain errors become a message and an exit code."""
    # Here, not at the top: every `matcher` command imports this module, few need the rounds.
    from models.rounds import RoundStore

    with (factory or open_database(settings).sessions)() as session:
        try:
            yield RoundStore(Repository(session, secret=settings.secret_key))
        except (ValidationError, ReferenceCheckError, ValueError, NotFoundError, ConflictError) as error:
            session.rollback()
            typer.echo(_message(error), err=True)
            code = EXIT_CONFLICT if isinstance(error, ConflictError) else EXIT_BAD_INPUT
            raise typer.Exit(code) from None


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "\n".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
    return str(error)


def _round_id(store: RoundStore, given: str) -> int:
    from models.rounds import AllocationRound, RoundNotFoundError

    if given.isdigit():
        return int(given)
    found = store.session.scalar(select(AllocationRound.id).where(AllocationRound.external_id == given))
    if found is None:
        raise RoundNotFoundError(f"no round with external id '{given}'")
    return found


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The round as JSON.")],
) -> None:
    """Create a draft round from FILE: name, kind, deadline, applicants and counterparts
    (the same shape as POST /v1/rounds)."""
    from models.rounds import RoundCreate

    settings = Settings()
    with _store(settings) as store:
        row = store.create(RoundCreate.model_validate(json.loads(file.read_text(encoding="utf-8"))))
        store.session.commit()
        typer.echo(f"round {row.id} ({row.external_id}) created as a draft: {row.name}")


@app.command("solve")
def solve(
    round_ref: RoundArgument,
    solver: Annotated[Literal["stable", "optimal"], typer.Option(help="stable or optimal.")] = "stable",
    floor: Annotated[bool, typer.Option(help="optimal only: place everyone capacity allows first.")] = False,
    cap: Annotated[int | None, typer.Option(min=0, help="At most this many per counterpart.")] = None,
) -> None:
    """Solve the round with the matcher's preferences and print the proposal's metrics."""
    # Imported here: the matcher is heavy, and the other commands need none of it.
    from api.matcher_service import MatcherService
    from api.round_service import solve_and_store
    from models.rounds import OptimalSolve, StableSolve

    settings = Settings()
    factory = open_database(settings).sessions
    with _store(settings, factory) as store:
        request = (
            OptimalSolve(solver="optimal", floor=floor, assignment_cap=cap)
            if solver == "optimal"
            else StableSolve(solver="stable", assignment_cap=cap)
        )
        service = MatcherService(settings, factory)
        service.build(show_progress=True)
        proposal = solve_and_store(store, service, _round_id(store, round_ref), request)
        store.session.commit()
    _print_summary(proposal)


@app.command("show")
def show(
    round_ref: RoundArgument,
    english: Annotated[bool, typer.Option("--en", help="Reasons in English.")] = False,
) -> None:
    """Print the round's proposal: every match with both ranks and reasons, then the metrics."""
    from rich.console import Console
    from rich.table import Table

    settings = Settings()
    with _store(settings) as store:
        round_id = _round_id(store, round_ref)
        row = store.get(round_id)
        typer.echo(f"round {row.id} ({row.external_id}) {row.name}: {row.kind.value}, {row.status.value}")
        proposal = store.proposal(round_id)
    table = Table("applicant", "counterpart", "score", "their rank", "its rank", "reasons")
    for match in proposal.assignments:
        reasons = "; ".join(r.en if english else r.zh for r in match.reasons)
        table.add_row(
            f"{match.applicant.name} ({match.applicant.external_id})",
            f"{match.counterpart.name} ({match.counterpart.external_id})",
            "" if match.score is None else f"{match.score:.3f}",
            str(match.applicant_rank or "-"),
            str(match.counterpart_rank or "-"),
            reasons,
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    _print_summary(proposal)


@app.command("review")
def review(round_ref: RoundArgument) -> None:
    """Mark the proposal reviewed: the last step before publishing."""
    with _store(Settings()) as store:
        row = store.review(_round_id(store, round_ref))
        store.session.commit()
        typer.echo(f"round {row.id} reviewed")


@app.command("publish")
def publish(round_ref: RoundArgument) -> None:
    """Write a reviewed round's matches as interactions and take the places, in one transaction.

    A running server learns of them at its next rebuild (publish over the API to inform it at once).
    """
    from api.round_service import publish_and_commit

    with _store(Settings()) as store:
        result = publish_and_commit(store, _round_id(store, round_ref))
    typer.echo(
        f"round {result.round.id} published: {result.interactions} interactions written, "
        f"{result.profiles_updated} profiles' vacancies updated"
    )


def _print_summary(proposal: ProposalPublic) -> None:
    typer.echo(f"solved by {proposal.settings.get('solved_by')}: {len(proposal.assignments)} matches")
    for name, value in proposal.metrics.items():
        typer.echo(f"  {name}: {value if not isinstance(value, float) else round(value, 4)}")
    reasons = Counter(u.reason for u in proposal.unmatched)
    if reasons:
        typer.echo("  unmatched: " + ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())))
