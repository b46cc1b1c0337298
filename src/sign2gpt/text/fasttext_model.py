"""fastText word vectors: a skipgram model trained on the corpus, or a pretrained `.bin`.

The paper takes its prototypes from Common Crawl vectors (`cc.de.300.bin`, `cc.zh.300.bin`). The
embedded default has no download, so the workflow trains a small skipgram model on the training
sentences instead; both are used the same way (`get_word_vector`, whose character n-grams give
lemmas and other unseen words a vector).

Training text: German is lower-cased and split on whitespace (PHOENIX sentences are already
tokenised); Chinese is segmented with jieba first so that words, not characters, are the units.
fastText 0.9.2's `train_unsupervised` has no seed argument (its internal seed is fixed at 0), so
one thread makes training deterministic. The `.bin` is written atomically.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import atomic_path

logger = logging.getLogger(__name__)

PRETRAINED_URL = "https://fasttext.cc/docs/en/crawl-vectors.html"
MODELS = ("skipgram", "cbow")


def corpus_lines(sentences: Sequence[str], language: str) -> list[str]:
    """One space-separated line of word units per non-empty sentence."""
    if language in ("de", "en"):
        lines = [" ".join(s.lower().split()) for s in sentences]
    elif language == "zh":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        lines = [" ".join(w for w in jieba.cut(s, cut_all=False) if w.strip()) for s in sentences]
    else:
        raise ConfigError(f"fasttext: language {language!r} is not one of de, en, zh")
    return [line for line in lines if line]


def train_fasttext(
    sentences: Sequence[str],
    out_bin: str | os.PathLike,
    *,
    language: str,
    dim: int = 300,
    model: str = "skipgram",
    epoch: int = 30,
    min_count: int = 1,
    minn: int = 2,
    maxn: int = 5,
    lr: float = 0.05,
    ws: int = 5,
    t: float = 1e-2,
    bucket: int = 50_000,
    threads: int = 1,
) -> None:
    """Rule fasttext: train word vectors on the training sentences and save the `.bin`.

    Two defaults differ from fastText's because the corpus is tiny:
    - `t` (sub-sampling threshold) 1e-2, not 1e-4. On a corpus of a few thousand tokens the
      vectors can collapse onto one direction, which makes the cosine prototypes
      indistinguishable. Mean pairwise cosine of the trained words, 320 synthetic sentences,
      dim 300, 30 epochs: German 1.000 / 0.67 / 0.35 and Chinese 0.19 / 1.00 / 0.41 for
      t = 1e-4 / 1e-3 / 1e-2 (1e-2 was the only value that never collapsed; t = 1, i.e. no
      sub-sampling, behaves like 1e-2 but trains slower). A collapse is logged as a warning.
    - `bucket` (rows for hashed character n-grams) 50,000, not 2,000,000: a few thousand
      sentences have tens of thousands of distinct n-grams, and the default would make a 2.4 GB
      file at dim 300.
    """
    import fasttext

    if model not in MODELS:
        raise ConfigError(f"prototypes.train.model: {model!r} is not one of {MODELS}")
    if dim < 1 or epoch < 1 or bucket < 1 or threads < 1:
        raise ConfigError("prototypes.train: dim, epoch, bucket and threads must be positive")
    if not 0 < t <= 1:
        raise ConfigError(f"prototypes.train.t: {t!r} must be in (0, 1]")
    if not 0 < minn <= maxn:
        raise ConfigError(f"prototypes.train: need 0 < minn <= maxn (got minn={minn}, maxn={maxn})")
    lines = corpus_lines(sentences, language)
    if not lines:
        raise DataError("fasttext corpus", "no non-empty training sentences to train word vectors on")
    logger.info("training fastText %s (dim %d, %d epochs) on %d sentences", model, dim, epoch, len(lines))

    out_bin = Path(out_bin)
    out_bin.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", dir=out_bin.parent,
                                     prefix=f".{out_bin.name}.corpus.", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        corpus = f.name
    try:
        ft = fasttext.train_unsupervised(
            corpus, model=model, dim=dim, epoch=epoch, minCount=min_count, minn=minn, maxn=maxn,
            lr=lr, ws=ws, t=t, bucket=bucket, thread=threads, verbose=0,
        )
    finally:
        os.unlink(corpus)
    spread = mean_cosine(ft, ft.words[:200])
    logger.info("fastText vocabulary: %d words; mean pairwise cosine of the most frequent: %.3f", len(ft.words), spread)
    if spread > 0.95:
        logger.warning("fastText vectors are nearly parallel (mean cosine %.3f): prototypes will be hard to tell "
                       "apart; raise t or the corpus size", spread)
    with atomic_path(out_bin) as tmp:
        ft.save_model(str(tmp))


def mean_cosine(model, words: Sequence[str]) -> float:
    """Mean pairwise cosine similarity of the words' vectors: near 1 means collapsed vectors."""
    words = [w for w in words if w != "</s>"]
    if len(words) < 2:
        return 0.0
    vectors = np.stack([model.get_word_vector(w) for w in words])  # [n, dim]
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = vectors @ vectors.T
    n = len(words)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def load_fasttext(path: str | os.PathLike | None, *, language: str = "de"):
    """A fastText model from a `.bin`; a missing file says where the pretrained ones are."""
    import fasttext

    if path is None or not Path(path).is_file():
        raise DataError(
            str(path),
            f"fastText model not found. Download cc.{language}.300.bin.gz from {PRETRAINED_URL} "
            f"(e.g. https://dl.fbaipublicfiles.com/fasttext/vectors-crawl/cc.{language}.300.bin.gz), "
            f"gunzip it and set prototypes.fasttext to its path, or set prototypes.fasttext: null "
            f"to train one on the corpus",
        )
    # fastText prints a deprecation note on every load; keep it out of the logs.
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return fasttext.load_model(str(path))
        except (ValueError, RuntimeError, MemoryError) as err:
            raise DataError(str(path), f"not a readable fastText .bin model: {err}") from err
