"""Files replaced whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from models.files import file_sha256, replace_directory, verified_manifest, write_atomically


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


class _MismatchError(ValueError):
    pass


def _manifest_folder(tmp_path: Path, **overrides: object) -> Path:
    (tmp_path / "rows.bin").write_bytes(b"0123456789")
    entry = {"size": 10, "sha256": file_sha256(tmp_path / "rows.bin")}
    manifest = {"format": "rows", "schema_version": 2, "files": {"rows.bin": entry}, **overrides}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def _verified(folder: Path) -> dict[str, object]:
    return verified_manifest(
        folder / "manifest.json",
        file_format="rows",
        schema_version=2,
        file_path=lambda name: folder / name,
        mismatch=_MismatchError,
    )


def test_verified_manifest_returns_a_manifest_whose_files_match(tmp_path: Path) -> None:
    assert _verified(_manifest_folder(tmp_path))["schema_version"] == 2


@pytest.mark.parametrize(
    ("overrides", "damage", "reason"),
    [
        ({"format": "other"}, None, "not a rows manifest"),
        ({"schema_version": 3}, None, "schema version 3, this code reads 2"),
        ({"files": None}, None, "lists no files"),
        ({}, b"012345678", r"rows\.bin: 9 bytes, the manifest says 10"),
        ({}, b"0123456780", r"rows\.bin: sha256 differs"),
    ],
)
def test_verified_manifest_names_the_file_and_the_reason(
    tmp_path: Path, overrides: dict[str, object], damage: bytes | None, reason: str
) -> None:
    folder = _manifest_folder(tmp_path, **overrides)
    if damage is not None:
        (folder / "rows.bin").write_bytes(damage)
    with pytest.raises(_MismatchError, match=reason):
        _verified(folder)


def test_verified_manifest_refuses_an_unreadable_manifest_or_a_missing_file(tmp_path: Path) -> None:
    folder = _manifest_folder(tmp_path)
    (folder / "rows.bin").unlink()
    with pytest.raises(_MismatchError, match=r"rows\.bin: missing"):
        _verified(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(_MismatchError, match="unreadable"):
        _verified(folder)
