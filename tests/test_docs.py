"""The README stays a ten-minute read; measurements live in benchmarks/README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_README_LINES = 250


def test_the_readme_is_at_most_250_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}); "
        "move measurements to benchmarks/README.md"
    )


def _heading_anchors(markdown: Path) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_local_link_of_the_readmes_exists() -> None:
    for readme in (ROOT / "README.md", ROOT / "benchmarks" / "README.md"):
        text = readme.read_text(encoding="utf-8")
        targets = [part.split(")", 1)[0] for part in text.split("](")[1:]]
        missing = []
        for target in (t for t in targets if not t.startswith("http")):
            path, _, anchor = target.partition("#")
            linked = readme.parent / path if path else readme
            if not linked.exists() or (anchor and anchor not in _heading_anchors(linked)):
                missing.append(target)
        assert missing == [], f"{readme.relative_to(ROOT)} links to missing {missing}"


def test_heading_anchors_are_githubs() -> None:
    assert _heading_anchors(ROOT / "benchmarks" / "README.md") >= {
        "evaluation-on-real-data-matcher-evaluate",
        "the-portals-pages-under-load-loadpy---mix-pages",
        "cyzone-early",
    }


def _readme_python_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```python\n", text.index("<!-- example: tests/test_docs.py runs this block -->"))
    start += len("```python\n")
    return text[start : text.index("```", start)]


def test_the_readme_python_example_recommends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exec(compile(_readme_python_example(), "README.md", "exec"), {})
    shown = capsys.readouterr().out.splitlines()
    # The angel investing in the startup's field and stage; the medical fund is not eligible.
    assert [line.split()[0] for line in shown] == ["I-1"]
    assert "智能制造" in shown[0]
