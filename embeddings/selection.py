"""Which encoder a deployment uses, chosen by one setting and always behind the cache."""

from __future__ import annotations

from pathlib import Path

from embeddings.cache import EmbeddingCache
from embeddings.chinese import chinese_encoder
from embeddings.encoder import CachedEncoder, Encoder, SentenceTransformerEncoder
from models.settings import Settings

BUNDLED_CHINESE = "zh-static"
BUNDLED_MINILM = "minilm"


def raw_encoder(name: str) -> Encoder:
    """The encoder a setting names; any other value is the path of a local model folder."""
    if name == BUNDLED_CHINESE:
        return chinese_encoder()
    if name == BUNDLED_MINILM:
        return SentenceTransformerEncoder()
    path = Path(name)
    if not path.is_dir():
        raise ValueError(
            f"encoder: '{name}' is neither {BUNDLED_CHINESE}, {BUNDLED_MINILM} nor a model folder"
        )
    return SentenceTransformerEncoder(path)


def encoder_for(settings: Settings) -> CachedEncoder:
    return CachedEncoder(raw_encoder(settings.encoder), EmbeddingCache.for_settings(settings))
