"""One settings object; two data dirs never share state."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.db import engine_for, is_empty, migrate, session_factory
from models.kinds import KINDS
from models.settings import Settings
from models.transfer import import_records
from tests.factories import samples


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MATCHER_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://someone@db/matcher")
    settings = Settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.resolved_database_url == "postgresql+psycopg://someone@db/matcher"


def test_default_database_lives_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'matcher.db'}"
    assert settings.index_dir.parent == settings.cache_dir.parent == (tmp_path / "d").resolve()


def test_two_data_dirs_never_share_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first, second = Settings(data_dir=tmp_path / "a"), Settings(data_dir=tmp_path / "b")
    first_engine, second_engine = engine_for(first), engine_for(second)
    for engine in (first_engine, second_engine):
        migrate(engine)
    import_records(
        session_factory(first_engine), KINDS["persons"], samples()["persons"], secret=first.secret_key
    )
    assert not is_empty(first_engine)
    assert is_empty(second_engine)
    first_engine.dispose()
    second_engine.dispose()


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="data_dri"):
        Settings(data_dri="typo")  # type: ignore[call-arg]


def test_production_refuses_the_placeholder_secret() -> None:
    with pytest.raises(ValueError, match="MATCHER_SECRET_KEY"):
        Settings(environment="production")
    assert Settings(environment="production", secret_key="a-real-secret").secret_key == "a-real-secret"
