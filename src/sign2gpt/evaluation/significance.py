"""How sure a score is: bootstrap confidence intervals and paired bootstrap tests, done the way
sacreBLEU 2.x does them, so that its command line reproduces every BLEU figure.

Resampling: the test sentences are drawn with replacement, 1,000 times, with indices from
`numpy.random.default_rng(12345)` (sacreBLEU's default `SACREBLEU_SEED`). A resample's BLEU-n is
computed from the summed n-gram statistics of its sentences; its ROUGE-L is the mean of its
sentences' ROUGE-L, so both metrics see the same resamples. The 95% interval is sacreBLEU's:
the 25th and 975th of the 1,000 sorted resample scores, reported as the mean of the resamples ±
half that range. The paired test is sacreBLEU's `--paired-bs` (Koehn 2004, as in Moses): both
systems on the same resamples; p = (1 + #{|Δ*| - mean|Δ*| > |Δ|}) / (1 + 1,000).

    sacrebleu REF -i HYP -tok none -s floor -sv 0 --confidence -w 4          # BLEU-4 interval
    sacrebleu REF -i BASELINE SYSTEM -tok none -s floor -sv 0 --paired-bs    # p-value

reproduce the BLEU-4 figures from the normalised text (tested). sacreBLEU's command line has no
`effective_order` for corpus BLEU; it differs from this project's BLEU only for a corpus with no
n-gram of some order at all (every hypothesis shorter than n tokens), where both give ~0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sign2gpt.evaluation import metrics

RESAMPLES = 1000
SEED = 12345  # sacreBLEU's default SACREBLEU_SEED
SCORES = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
METHOD = ("sacreBLEU bootstrap: sentences resampled with replacement, 1,000 resamples, numpy default_rng(12345); "
          "95% interval = 2.5th..97.5th percentile of the resample scores; paired test as sacreBLEU --paired-bs")


def resample_indices(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """[resamples, n] sentence indices, exactly those sacreBLEU draws for n sentences."""
    if n < 1:
        raise ValueError("cannot resample an empty corpus")
    return np.random.default_rng(seed).choice(n, size=(resamples, n), replace=True)


def scores_and_samples(hyps: Sequence[str], refs: Sequence[str], idx: np.ndarray
                       ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The corpus scores and every resample's scores, {metric: float} and {metric: float
    [resamples]} (x100), from one pass over the sentences: the corpus BLEU-n from the sentence
    statistics as sacreBLEU's `corpus_score` aggregates them (= `metrics.bleu`), the corpus ROUGE-L
    as `metrics.rouge_l` averages the same sentence scores."""
    metrics.check_pair(hyps, refs)
    full, samples = {}, {}
    for n in range(1, metrics.MAX_ORDER + 1):
        metric = metrics.bleu_metric(n)
        raw = metric._extract_corpus_statistics(list(hyps), [list(refs)])
        full[f"bleu{n}"] = float(metric._aggregate_and_compute(raw).score)  # what corpus_score does
        stats = np.array(raw, dtype="float32")  # resamples: sacreBLEU sums float32 statistics
        samples[f"bleu{n}"] = np.array([metric._compute_score_from_stats(s.sum(0)).score for s in stats[idx]])
    sentence = [metrics.rouge_l_sentence(h, r) for h, r in zip(hyps, refs)]
    full["rouge_l"] = 100.0 * sum(sentence) / len(sentence)
    samples["rouge_l"] = 100.0 * np.asarray(sentence)[idx].mean(axis=1)
    return full, samples


def resampled_scores(hyps: Sequence[str], refs: Sequence[str], idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every score of every resample: {metric: float [resamples]} (x100, as the scores)."""
    return scores_and_samples(hyps, refs, idx)[1]


def interval(samples: np.ndarray) -> dict[str, float]:
    """sacreBLEU's 95% interval of resample scores: mean, half-width `ci`, and its `low`..`high`."""
    s = np.sort(np.asarray(samples, dtype=float))
    lower = len(s) // 40
    low, high = float(s[lower]), float(s[len(s) - lower - 1])
    return {"mean": float(s.mean()), "ci": 0.5 * (high - low), "low": low, "high": high}


def bootstrap_intervals(hyps: Sequence[str], refs: Sequence[str], *, resamples: int = RESAMPLES,
                        seed: int = SEED) -> dict[str, dict[str, float]]:
    """{metric: interval} for BLEU-1..4 and ROUGE-L of normalised hypotheses."""
    samples = resampled_scores(hyps, refs, resample_indices(len(hyps), resamples, seed))
    return {m: interval(samples[m]) for m in SCORES}


def paired_test(system: Sequence[str], baseline: Sequence[str], refs: Sequence[str], *,
                resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, dict[str, float]]:
    """Paired bootstrap of `system` against `baseline` on the same sentences (normalised text):
    {metric: {"system", "baseline", "delta" (system - baseline), "p"}}; p is two-sided (|Δ|)."""
    if len(system) != len(baseline):
        raise ValueError(f"paired test: {len(system)} system vs {len(baseline)} baseline sentences")
    idx = resample_indices(len(refs), resamples, seed)
    sys_scores, sys_samples = scores_and_samples(system, refs, idx)
    base_scores, base_samples = scores_and_samples(baseline, refs, idx)
    return {m: paired_result(sys_scores[m], base_scores[m], sys_samples[m], base_samples[m]) for m in SCORES}


def paired_result(system: float, baseline: float, system_samples: np.ndarray, baseline_samples: np.ndarray
                  ) -> dict[str, float]:
    """{"system", "baseline", "delta", "p"} of one metric from both systems' scores on the same
    resamples; p is sacreBLEU's two-sided paired-bootstrap p-value (|Δ|), except that systems with
    the same score get p = 1 (sacreBLEU's formula gives them its smallest p when every resample ties)."""
    sample_diffs = np.abs(np.asarray(system_samples) - np.asarray(baseline_samples))
    centred = sample_diffs - sample_diffs.mean()
    p = (int(np.sum(centred > abs(system - baseline))) + 1) / (len(centred) + 1) if system != baseline else 1.0
    return {"system": system, "baseline": baseline, "delta": system - baseline, "p": p}


def corpus_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """BLEU-1..4 and ROUGE-L of normalised text (the figures the intervals are around)."""
    b = metrics.bleu(list(hyps), list(refs))
    return {**{f"bleu{n}": b[f"bleu{n}"] for n in range(1, metrics.MAX_ORDER + 1)},
            "rouge_l": metrics.rouge_l(list(hyps), list(refs))}


def describe(intervals: Mapping[str, Mapping[str, float]], metric: str = "bleu4") -> str:
    """'[low, high]' of one metric, for logs and tables."""
    i = intervals[metric]
    return f"[{i['low']:.2f}, {i['high']:.2f}]"
