"""`matcher evaluate` and `matcher train`: the offline benchmark and the learned ranker."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from models.settings import Settings

EXIT_BAD_INPUT = 2

ProtocolOption = Annotated[
    str, typer.Option("--protocol", help="cyzone-early, crunchbase-2013 or yc-2005-2014.", show_default=False)
]


def evaluate(
    protocol: ProtocolOption,
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, help="Ask only this many queries, spread over the period."),
    ] = None,
    methods: Annotated[
        list[str] | None,
        typer.Option("--methods", help="Methods to run (repeat or separate by commas); all by default."),
    ] = None,
    on: Annotated[
        str,
        typer.Option(
            "--on",
            help="test: the protocol's test queries; validation: rolling folds inside its history "
            "(choose weights and thresholds there, never on the test queries).",
        ),
    ] = "test",
    parallel: Annotated[
        bool, typer.Option("--parallel", help="Run every fold and method as a Ray task; the same results.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Ray workers with --parallel (local CPUs unless RAY_ADDRESS)."
        ),
    ] = 2,
) -> None:
    """Run a protocol on real data and print its metric table, one row per method."""
    from matcher.evaluation.harness import METHODS, run_protocol

    chosen = [name.strip() for item in methods or [] for name in item.split(",") if name.strip()] or None
    unknown = [name for name in chosen or [] if name not in METHODS]
    if unknown:
        typer.echo(f"--methods: unknown {', '.join(unknown)}; known: {', '.join(METHODS)}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if on not in ("test", "validation"):
        typer.echo(f"--on: unknown '{on}'; use test or validation", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        result = run_protocol(
            protocol,
            settings=Settings(),
            sample=sample,
            methods=chosen,
            show_progress=True,
            on="validation" if on == "validation" else "test",
            workers=workers if parallel else None,
        )
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(result.table.to_markdown())
    for name, value in result.ranker_metrics.items():
        typer.echo(f"ranker {name}: {value:.4f}")


def train(
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="Learn from a protocol's history instead of this deployment's own data.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="Folder to write the ranker into.", show_default=False),
    ] = None,
) -> None:
    """Train the LambdaRank ranker on this deployment's history (or a protocol's), validated on a
    time split inside it, and save it. Saved into the data folder (the default), the service
    scores with it from its next start; before any training it uses the default weights."""
    from embeddings.selection import encoder_for
    from matcher.evaluation.harness import load_folds
    from matcher.evaluation.training import GATED_METRICS, deployment_fold, train_ranker
    from matcher.ranker import save_ranker
    from models.db import engine_for, session_factory

    settings = Settings()
    try:
        if protocol is None:
            fold = deployment_fold(session_factory(engine_for(settings)), secret=settings.secret_key)
        else:
            fold = load_folds(protocol, settings=settings)[0]  # every fold's history precedes its queries
        with tempfile.TemporaryDirectory(prefix="matcher-train-") as scratch:
            trained = train_ranker(
                fold,
                encoder=encoder_for(settings),
                directory=Path(scratch),
                protocol=protocol or "deployment",
                show_progress=True,
            )
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for name, value in trained.metrics.items():
        typer.echo(f"{name}: {value:.4f}")
    if not trained.beats_default:
        metrics = trained.metrics
        typer.echo(
            "not saved: on the validation rounds the ranker did not order clearly better than the default "
            f"weights (NDCG@10 {metrics['validation_ndcg10_ranker']:.4f} against "
            f"{metrics['validation_ndcg10_default']:.4f}, "
            f"Recall@10 {metrics['validation_recall10_ranker']:.4f} against "
            f"{metrics['validation_recall10_default']:.4f}; each gain must exceed two standard errors, "
            f"{' and '.join(m for m in GATED_METRICS if not trained.clear_gain(m))} did not); "
            "the service keeps the default weights",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    target = out or settings.trained_ranker_dir
    manifest = save_ranker(trained.model, target, window=trained.window, metrics=trained.metrics)
    window = trained.window
    typer.echo(
        f"ranker saved to {target} (LambdaRank over {', '.join(manifest.features)}); "
        f"features from history before {window.features_until}, training rounds {window.queries_from} to "
        f"{window.validation_from}, validation rounds to {window.until}"
    )
