"""Files replaced whole or not at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from models.files import replace_directory, write_atomically


def _streamed(stream: IO[bytes]) -> None:
    stream.write(b"streamed")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"\x00bytes", b"\x00bytes"), ("文本 text", "文本 text".encode()), (_streamed, b"streamed")],
)
def test_write_atomically_takes_bytes_text_or_a_writer(
    tmp_path: Path, content: bytes | str | Callable[[IO[bytes]], None], expected: bytes
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    write_atomically(path, content)
    assert path.read_bytes() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text("old")

    def torn(stream: IO[bytes]) -> None:
        stream.write(b"half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        write_atomically(path, torn)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_replace_directory_swaps_in_what_was_filled(tmp_path: Path) -> None:
    target = tmp_path / "lexical"
    target.mkdir()
    (target / "stale.npz").write_text("stale")

    def fill(directory: Path) -> None:
        (directory / "rows.npz").write_text("fresh")

    replace_directory(target, fill)
    assert sorted(p.name for p in target.iterdir()) == ["rows.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lexical"]


def test_replace_directory_replaces_a_file_of_the_same_name_and_a_failed_fill_leaves_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / "state"
    target.write_bytes(b"an older version's single file")

    def broken(folder: Path) -> None:
        (folder / "half").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(target, broken)
    assert [p.name for p in tmp_path.iterdir()] == ["state"]
    assert target.is_file()
    for round in range(2):

        def fill(folder: Path, text: str = str(round)) -> None:
            (folder / "data").write_text(text)

        replace_directory(target, fill)
        assert [p.name for p in tmp_path.iterdir()] == ["state"]
        assert (target / "data").read_text() == str(round)
