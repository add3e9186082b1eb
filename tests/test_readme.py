"""Every ```bash block of the README runs as written, in order, against a live demo server.

A block fenced ```` ```bash no-run ```` is shown, not run (installing, hours of evaluation): the
info string's first word still gives GitHub its highlighting. The README's ``127.0.0.1:8000`` is
the test server's address; ``matcher`` is this environment's, on the demo data in the server's data dir.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.settings import Settings
from tests.factories import load_small_demo
from tests.servers import STARTUP_LIMIT_S, matcher_env, serving

ROOT = Path(__file__).resolve().parent.parent
README_ADDRESS = "127.0.0.1:8000"
# `bash` alone: a fence with more words after it (`bash no-run`) does not match.
FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
BLOCKS_LIMIT_S = 1800


@dataclass(frozen=True)
class Block:
    line: int
    text: str


def runnable_blocks(readme: str) -> list[Block]:
    return [
        Block(readme.count("\n", 0, fence.start()) + 1, fence.group(1)) for fence in FENCE.finditer(readme)
    ]


def test_the_extraction_takes_bash_blocks_and_leaves_no_run_ones() -> None:
    readme = "text\n```bash\necho one\n```\n```bash no-run\nexit 1\n```\n```json\n{}\n```\n"
    assert runnable_blocks(readme) == [Block(2, "echo one\n")]


@pytest.mark.slow
@pytest.mark.timeout(BLOCKS_LIMIT_S + STARTUP_LIMIT_S)
def test_every_shell_block_of_the_readme_runs(tmp_path: Path) -> None:
    blocks = runnable_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README has no runnable bash block"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir)
    load_small_demo(settings.resolved_database_url, seed=42, secret=settings.secret_key)
    with serving(data_dir) as server:
        address = server.url.removeprefix("http://")
        script = "set -euo pipefail\n" + "".join(
            f"echo '### README.md line {block.line}' >&2\n{block.text.replace(README_ADDRESS, address)}"
            for block in blocks
        )
        env = matcher_env(data_dir, None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        ran = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCKS_LIMIT_S,
            check=False,
        )
    assert ran.returncode == 0, (
        f"a README block failed:\n{ran.stderr[-6000:]}\n--- stdout ---\n{ran.stdout[-3000:]}"
    )
