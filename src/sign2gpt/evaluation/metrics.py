"""Translation metrics: corpus BLEU-1..4 (sacreBLEU) and sentence-averaged ROUGE-L.

Both follow the SLT convention of the Sign2GPT / Camgoz et al. evaluation code (spec §11), so
numbers are comparable with published tables:

* BLEU: sacreBLEU corpus statistics with ``tokenize="none"`` (the text is split on whitespace
  and nothing else), smoothing ``floor`` with value 0 (identical to no smoothing: a zero n-gram
  precision gives BLEU 0), effective order on (only matters when a corpus has no n-grams of
  some order, e.g. every hypothesis shorter than n tokens), one reference per hypothesis.
  BLEU-n is *cumulative*: BP x exp(mean of log p_1..p_n), computed with ``max_ngram_order=n``.
* ROUGE-L: the MS-COCO definition per sentence, F = (1 + b^2) P R / (R + b^2 P) with b = 1.2
  from the longest common subsequence (LCS) of the token lists, 0 when P or R is 0, averaged
  over sentences. Tokens are ``str.split()`` (whitespace runs collapse, no empty tokens); the
  COCO code uses ``split(" ")``, which differs only when the text has repeated spaces, which
  ``conventions.normalise`` never leaves. An empty hypothesis or reference scores 0.

All scores are x100. Text normalisation (final period, lower-casing, Chinese characters) is
not done here but in :mod:`sign2gpt.evaluation.conventions`.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from sacrebleu.metrics import BLEU

from sign2gpt.core.errors import DataError

MAX_ORDER = 4
ROUGE_BETA = 1.2


def check_pair(hyps: Sequence[str], refs: Sequence[str]) -> None:
    """Fail early with a message naming the offending sentence, not deep inside sacreBLEU."""
    if len(hyps) != len(refs):
        raise DataError("hypotheses", f"{len(hyps)} hypotheses but {len(refs)} references")
    if len(hyps) == 0:
        raise DataError("hypotheses", "nothing to score (empty list)")
    for i, (h, r) in enumerate(zip(hyps, refs)):
        if not isinstance(h, str):
            raise DataError(f"hypothesis {i}", f"expected a string, got {type(h).__name__}")
        if not isinstance(r, str):
            raise DataError(f"reference {i}", f"expected a string, got {type(r).__name__}")


def bleu_metric(order: int) -> BLEU:
    return BLEU(
        tokenize="none",
        smooth_method="floor",
        smooth_value=0.0,
        effective_order=True,
        max_ngram_order=order,
    )


def bleu(hyps: list[str], refs: list[str]) -> dict:
    """Corpus BLEU-1..4 (cumulative, x100) with the sacreBLEU signature and the statistics.

    Returns ``{"bleu1".."bleu4": float, "signature": str, "precisions": [p1..p4] (x100),
    "bp": float, "hyp_len": int, "ref_len": int}``.
    """
    check_pair(hyps, refs)
    out: dict = {}
    score = None
    metric = None
    for n in range(1, MAX_ORDER + 1):
        metric = bleu_metric(n)
        score = metric.corpus_score(list(hyps), [list(refs)])
        out[f"bleu{n}"] = float(score.score)
    assert score is not None and metric is not None
    out["signature"] = str(metric.get_signature())
    out["precisions"] = [float(p) for p in score.precisions]
    out["bp"] = float(score.bp)
    out["hyp_len"] = int(score.sys_len)
    out["ref_len"] = int(score.ref_len)
    return out


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence; O(len(a) * len(b)) time, O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def rouge_l_sentence(hyp: str, ref: str, beta: float = ROUGE_BETA) -> float:
    """ROUGE-L F-score of one sentence pair in [0, 1] (not x100)."""
    h, r = hyp.split(), ref.split()
    if not h or not r:
        return 0.0
    lcs = lcs_length(h, r)
    p, rec = lcs / len(h), lcs / len(r)
    if p == 0.0 or rec == 0.0:
        return 0.0
    b2 = beta * beta
    return (1.0 + b2) * p * rec / (rec + b2 * p)


def rouge_l(hyps: list[str], refs: list[str], beta: float = ROUGE_BETA) -> float:
    """Mean per-sentence ROUGE-L F-score, x100 (beta > 1 weights recall more than precision)."""
    check_pair(hyps, refs)
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    total = sum(rouge_l_sentence(h, r, beta) for h, r in zip(hyps, refs))
    return 100.0 * total / len(hyps)


MOSTLY = 0.5  # a system whose output is at least this share empty, or one sentence, learned nothing


def output_health(hyps: Sequence[str]) -> dict:
    """Shares of empty hypotheses and of the most repeated one, and the warnings they call for."""
    if not hyps:
        raise DataError("hypotheses", "nothing to check (empty list)")
    top, top_n = collections.Counter(hyps).most_common(1)[0]
    empty = sum(1 for h in hyps if not h.strip()) / len(hyps)
    warnings = []
    if empty >= MOSTLY:
        warnings.append(f"{empty:.0%} of the hypotheses are empty")
    if top_n / len(hyps) >= MOSTLY and top.strip():
        warnings.append(f"{top_n / len(hyps):.0%} of the hypotheses are the same sentence ({top[:60]!r})")
    return {"empty": empty, "most_repeated": top_n / len(hyps), "most_repeated_sentence": top, "warnings": warnings}
