"""One settings object, read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-only-change-me"  # noqa: S105 - a known placeholder, refused outside development


class Settings(BaseSettings):
    """Everything that differs between two installations.

    Two settings objects with different ``data_dir`` never share state: the SQLite file,
    vector indexes and embedding caches all live under it.
    """

    model_config = SettingsConfigDict(
        env_prefix="MATCHER_", extra="forbid", frozen=True, populate_by_name=True
    )

    data_dir: Path = Field(default=Path("data"))
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "MATCHER_DATABASE_URL")
    )
    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEFAULT_SECRET
    encoder: str = Field(
        default="zh-static",
        description="'zh-static' (bundled Chinese-capable static model), 'minilm' (bundled "
        "all-MiniLM-L6-v2, English only) or the path of a local sentence-transformers model.",
    )
    shared_data_dir: Path = Field(
        default=Path(__file__).resolve().parent.parent.parent / "shared" / "data",
        validation_alias=AliasChoices("MATCHER_SHARED_DATA", "MATCHER_SHARED_DATA_DIR"),
    )
    ranker_path: Path | None = Field(
        default=None,
        description="A folder written by `matcher train`: its learned ranker replaces the default "
        "scorer. Unset: the ranker `matcher train` wrote for this deployment's data, if any.",
    )
    matcher_config: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("MATCHER_CONFIG", "matcher_config"),
        description="A TOML file of matcher settings (matcher.config.MatcherConfig); the defaults without.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="HTTP worker processes of `matcher serve`, each with its own matcher.",
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Shards serving recommendations, each a Ray actor holding its part of the candidates "
        "(matcher.sharding); 1 serves them in the process, without Ray.",
    )
    settle_memory_from_profiles: int = Field(
        default=2_000,
        ge=0,
        description="After a build of at least this many profiles, take what the build left alive out "
        "of the cycle collector's sight (unfrozen, each full collection walks the whole heap while "
        "requests wait). Below it (a new or nearly empty deployment, the tests' apps) the "
        "whole-process collection before freezing costs more (~1.4 s beside torch) than it saves.",
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1, description="Largest request body (import aside).")
    max_import_bytes: int = Field(default=64 << 20, ge=1, description="Largest bulk import upload.")
    # Expensive endpoints, per account and per client address: a burst of this many, refilled
    # at this many per minute, shared out between the workers. Recommendations cost a few ms
    # each; imports and solves seconds.
    recommend_limit_per_account: int = Field(default=120, ge=1)
    recommend_limit_per_ip: int = Field(default=600, ge=1)
    heavy_limit_per_account: int = Field(default=6, ge=1)
    heavy_limit_per_ip: int = Field(default=12, ge=1)
    # Portal sign-in attempts, per email/phone and per client address, per minute.
    sign_in_limit_per_identifier: int = Field(default=5, ge=1)
    sign_in_limit_per_ip: int = Field(default=30, ge=1)
    smtp_url: str | None = Field(
        default=None,
        description="Where the portal's e-mail goes, e.g. smtp://user:pass@host:587; unset, mail is "
        "written to the log instead (development).",
    )

    @model_validator(mode="after")
    def _real_secret_outside_development(self) -> Self:
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "secret_key: set MATCHER_SECRET_KEY; the development placeholder is refused in production"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.sqlite_path}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir.resolve() / "matcher.db"

    @property
    def index_dir(self) -> Path:
        return self.data_dir.resolve() / "indexes"

    @property
    def trained_ranker_dir(self) -> Path:
        """Where `matcher train` puts the ranker learned from this deployment's own data."""
        return self.data_dir.resolve() / "ranker"

    @property
    def serving_ranker_dir(self) -> Path | None:
        """The ranker to serve with: the configured one, else this deployment's own trained one
        when it exists; None means the hand-set default weights (a cold start)."""
        if self.ranker_path is not None:
            return self.ranker_path
        return self.trained_ranker_dir if (self.trained_ranker_dir / "manifest.json").exists() else None

    @property
    def cache_dir(self) -> Path:
        return self.data_dir.resolve() / "cache"

    @property
    def policy_dir(self) -> Path:
        """Where an older release kept staff's policy edits; moved into the database at start."""
        return self.data_dir.resolve() / "policies"

    def ensure_dirs(self) -> None:
        for directory in (self.data_dir.resolve(), self.index_dir, self.cache_dir):
            directory.mkdir(parents=True, exist_ok=True)
