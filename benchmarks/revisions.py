"""Measuring an earlier revision beside this one: its tree extracted by ``git archive``, and a
benchmark's child process run with that tree first on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def extracted(revision: str, folder: Path) -> Path:
    """``revision``'s tree, written into ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def child_report(
    script: str,
    arguments: list[str],
    tree: Path,
    *,
    environment: dict[str, str] | None = None,
    cwd: Path | None = None,
    wrapper: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``script --child arguments`` in a fresh process measuring ``tree`` (from ``cwd``,
    the tree by default), started through ``wrapper`` when given (``valgrind ...``); the
    child's last line of output is its JSON report."""
    env = os.environ | {"PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"} | (environment or {})
    command = [*wrapper, sys.executable, str(Path(script).resolve()), "--child", *arguments]
    done = subprocess.run(command, env=env, cwd=cwd or tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the run in {tree} failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
