"""Does the distilled static model add Chinese semantics beyond the lexical channel? Measured on cyzone.

    .venv/bin/python benchmarks/chinese_semantics.py [--docs 2000] [--queries 200] [--pairs 300]
        [--no-teacher] [--static DIR]

Temporal split, as the model was built: documents are startups first funded in 2010-2015 (the
lexical IDF is fitted on all of them; the static model's vocabulary saw their words), queries
are startups that only appear in 2018-2019. No weight below is tuned on these figures: the fused
score is the plain mean of the lexical and static cosines.

Tasks (AUC of cosine; for retrieval, the mean per-query AUC and Recall@100):
  name->industry pairs  a 2018-19 registered name vs its own industry tags (positive) or the tags
                        of a startup in another sector (negative)
  zh alias<->zh name    models.taxonomy industries: the Chinese name vs one of its Chinese aliases
                        (大健康 / 生命健康) or another industry's alias
  zh<->en industry      models.taxonomy industries: Chinese name vs its English name or another
                        one (cross-lingual; lexical overlap is nearly nil by design)
  leaf tag from name    query = name only; relevant = 2010-15 startups (name + tags) whose most
                        specific industry is the query's
  shared investor       query = name + tags; relevant = 2010-15 startups sharing a disclosed investor
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import normalize

from embeddings.chinese import chinese_encoder, cyzone_events, has_cjk, teacher_vectors
from embeddings.encoder import SentenceTransformerEncoder
from embeddings.lexical import LexicalVectorizer
from matcher.evaluation.cyzone import map_cyzone_industries
from models.settings import Settings
from models.taxonomy import INDUSTRIES, industry_ancestors

Matrix: TypeAlias = npt.NDArray[np.float32] | sp.csr_matrix
Embed = Callable[[Sequence[str]], Matrix]
UNDISCLOSED_INVESTOR = "9999999"
TRAIN_YEARS = range(2010, 2016)
TEST_YEARS = (2018, 2019)
FUSED = ("lexical", "static")
RECALL_AT = 100


@dataclass
class Startup:
    short: str
    full: str
    tags: list[str]
    investors: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"{self.short} {self.full}"

    @property
    def profile(self) -> str:
        return f"{self.name} {' '.join(self.tags)}"

    @property
    def leaf(self) -> str | None:
        codes = map_cyzone_industries(self.tags)
        return max(codes, key=lambda c: len(industry_ancestors(c))) if codes else None


def load_startups(data_dir: Path, years: Sequence[int]) -> dict[str, Startup]:
    startups: dict[str, Startup] = {}
    for row in cyzone_events(data_dir, years):
        tags = [t for t in row["industries"].split(",") if t]
        startup = startups.setdefault(
            row["investee_id"], Startup(row["investee_shortname"], row["investee_fullname"], tags)
        )
        startup.investors.update(i for i in row["investor_ids"].split(",") if i and i != UNDISCLOSED_INVESTOR)
    return startups


@dataclass
class PairTask:
    left: list[str]
    right: list[str]
    labels: list[int]

    def scores(self, embed: Embed) -> npt.NDArray[np.float64]:
        a, b = embed(self.left), embed(self.right)
        products = a.multiply(b) if sp.issparse(a) else a * b
        return np.asarray(products.sum(axis=1), dtype=np.float64).ravel()

    def report(self, scores: npt.NDArray[np.float64]) -> str:
        return f"{roc_auc_score(self.labels, scores):.3f}"


@dataclass
class RetrievalTask:
    queries: list[str]
    docs: list[str]
    relevant: npt.NDArray[np.bool_]  # (queries, docs)

    def scores(self, embed: Embed) -> npt.NDArray[np.float64]:
        product = embed(self.queries) @ embed(self.docs).T
        return np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float64)

    def report(self, scores: npt.NDArray[np.float64]) -> str:
        aucs = [roc_auc_score(rel, row) for rel, row in zip(self.relevant, scores, strict=True)]
        top = np.argsort(-scores, axis=1, kind="stable")[:, :RECALL_AT]
        hits = np.take_along_axis(self.relevant, top, axis=1).sum(axis=1)
        recall = float(np.mean(hits / self.relevant.sum(axis=1)))
        return f"{np.mean(aucs):.3f} / {recall:.3f}"


Task = PairTask | RetrievalTask


def name_industry_pairs(test: list[Startup], n: int, rng: random.Random) -> PairTask:
    usable = [s for s in test if s.tags and s.tags[0] not in {"未透露", "unknown"}]
    chosen = rng.sample(usable, n)
    left, right, labels = [], [], []
    for startup in chosen:
        other = rng.choice([s for s in rng.sample(usable, 20) if s.tags[0] != startup.tags[0]])
        left += [startup.full, startup.full]
        right += [" ".join(startup.tags), " ".join(other.tags)]
        labels += [1, 0]
    return PairTask(left, right, labels)


def _pair_task(pairs: list[tuple[str, str]], rng: random.Random) -> PairTask:
    """Each (a, b) pair, plus a against the b of another pair as the negative."""
    left, right, labels = [], [], []
    for a, b in pairs:
        wrong = rng.choice([other for _, other in pairs if other != b])
        left += [a, a]
        right += [b, wrong]
        labels += [1, 0]
    return PairTask(left, right, labels)


def taxonomy_pairs(rng: random.Random, *, english: bool) -> PairTask:
    """Our industry names: the Chinese name vs its English name, or vs its Chinese aliases."""
    pairs = []
    for industry in INDUSTRIES.values():
        if english:
            pairs.append((industry.zh, industry.en))
        else:
            pairs += [(industry.zh, alias) for alias in industry.aliases if has_cjk(alias)]
    return _pair_task(pairs, rng)


def retrieval(
    test: list[Startup], docs: list[Startup], n: int, rng: random.Random, *, by: str
) -> RetrievalTask:
    def relevant_row(query: Startup) -> npt.NDArray[np.bool_]:
        if by == "leaf":
            return np.array([query.leaf is not None and d.leaf == query.leaf for d in docs])
        return np.array([bool(query.investors & d.investors) for d in docs])

    candidates = rng.sample(test, len(test))
    rows: list[tuple[Startup, npt.NDArray[np.bool_]]] = []
    for query in candidates:
        row = relevant_row(query)
        if 0 < row.sum() < len(docs):
            rows.append((query, row))
        if len(rows) == n:
            break
    queries = [q.name if by == "leaf" else q.profile for q, _ in rows]
    return RetrievalTask(queries, [d.profile for d in docs], np.vstack([r for _, r in rows]))


def lsa_embed(vectorizer: LexicalVectorizer, corpus: list[str]) -> Embed:
    """The scikit-learn fallback: a 256-d latent space over the same lexical features."""
    svd = TruncatedSVD(n_components=256, random_state=0).fit(vectorizer.transform(corpus))

    def embed(texts: Sequence[str]) -> Matrix:
        return np.asarray(normalize(svd.transform(vectorizer.transform(texts))), dtype=np.float32)

    return embed


def channels(corpus: list[str], static_path: Path | None, with_teacher: bool) -> dict[str, Embed]:
    started = time.perf_counter()
    vectorizer = LexicalVectorizer().fit(corpus)
    print(f"lexical fitted on {len(corpus)} texts in {time.perf_counter() - started:.1f}s")
    minilm, static = SentenceTransformerEncoder(), chinese_encoder(static_path)
    found: dict[str, Embed] = {
        "MiniLM": minilm.encode,
        "lexical": vectorizer.transform,
        "LSA": lsa_embed(vectorizer, corpus),
        "static": static.encode,
    }
    if with_teacher:
        found["e5 teacher"] = lambda texts: teacher_vectors(texts, batch_size=64, show_progress=False)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--no-teacher", action="store_true")
    parser.add_argument("--static", type=Path, default=None, help="static model folder (default: the asset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir, rng = Settings().shared_data_dir, random.Random(args.seed)

    train = load_startups(data_dir, TRAIN_YEARS)
    test = [s for key, s in load_startups(data_dir, TEST_YEARS).items() if key not in train]
    docs = rng.sample(sorted(train.values(), key=lambda s: s.full), args.docs)
    tasks: dict[str, Task] = {
        "name->industry pairs": name_industry_pairs(test, args.pairs, rng),
        "zh alias<->zh name": taxonomy_pairs(rng, english=False),
        "zh<->en industry": taxonomy_pairs(rng, english=True),
        "leaf tag from name": retrieval(test, docs, args.queries, rng, by="leaf"),
        "shared investor": retrieval(test, docs, args.queries, rng, by="investor"),
    }
    embeds = channels([s.profile for s in train.values()], args.static, not args.no_teacher)
    names = [*embeds, "lexical+static"]
    table: dict[str, dict[str, str]] = {}
    for task_name, task in tasks.items():
        started = time.perf_counter()
        scores = {name: task.scores(embed) for name, embed in embeds.items()}
        scores["lexical+static"] = (scores[FUSED[0]] + scores[FUSED[1]]) / 2
        table[task_name] = {name: task.report(scores[name]) for name in names}
        print(f"{task_name}: {time.perf_counter() - started:.0f}s")

    print("\nAUC (pairs) or mean per-query AUC / Recall@100 (retrieval)")
    width = max(len(n) for n in tasks) + 2
    print("".ljust(width) + "".join(n.rjust(16) for n in names))
    for task_name, row in table.items():
        print(task_name.ljust(width) + "".join(row[n].rjust(16) for n in names))


if __name__ == "__main__":
    main()
