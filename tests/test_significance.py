"""Bootstrap intervals and paired tests: sacreBLEU's command line reproduces them, and they behave."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sign2gpt.evaluation import significance
from sign2gpt.evaluation.conventions import normalise, score

SACREBLEU = shutil.which("sacrebleu", path=str(Path(sys.executable).parent)) or "sacrebleu"
WORDS = "regen schnee sonne wolken wind nord süd ost west morgen heute abend nacht kalt warm grad".split()


def corpus(n: int, seed: int, noise: float) -> tuple[list[str], list[str]]:
    """References of 6-12 words and hypotheses with a fraction `noise` of the words replaced."""
    rng = np.random.default_rng(seed)
    refs, hyps = [], []
    for _ in range(n):
        ref = list(rng.choice(WORDS, size=int(rng.integers(6, 13))))
        hyp = [w if rng.random() > noise else str(rng.choice(WORDS)) for w in ref]
        if rng.random() < 0.3:
            hyp = hyp[: max(1, len(hyp) - 2)]
        refs.append(" ".join(ref) + " .")
        hyps.append(" ".join(hyp) + " .")
    return hyps, refs


def _cli(args: list[str], cwd: Path) -> object:
    proc = subprocess.run([SACREBLEU, *args, "-tok", "none", "-s", "floor", "-sv", "0", "-w", "6"],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_sacrebleu_command_line_reproduces_the_interval_and_the_paired_p_value(tmp_path):
    hyps, refs = corpus(60, seed=0, noise=0.4)
    weaker, _ = corpus(60, seed=0, noise=0.55)
    result = score(hyps, refs, "de")
    prep = lambda xs: [normalise(x, "de") for x in xs]  # noqa: E731 (what score() scores)
    for name, lines in (("ref.txt", prep(refs)), ("hyp.txt", prep(hyps)), ("weak.txt", prep(weaker))):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    single = _cli(["ref.txt", "-i", "hyp.txt", "--confidence", "-cin", "1000"], tmp_path)
    assert single["score"] == pytest.approx(result["bleu4"], abs=1e-4)
    assert single["confidence_mean"] == pytest.approx(result["intervals"]["bleu4"]["mean"], abs=1e-4)
    assert single["confidence_var"] == pytest.approx(result["intervals"]["bleu4"]["ci"], abs=1e-4)
    assert "seed:12345" in single["signature"] and "bs:1000" in single["signature"]

    paired = _cli(["ref.txt", "-i", "weak.txt", "hyp.txt", "--paired-bs", "-pbsn", "1000"], tmp_path)
    ours = significance.paired_test(prep(hyps), prep(weaker), prep(refs))
    assert paired[1]["BLEU"]["p_value"] == pytest.approx(ours["bleu4"]["p"], abs=1e-9)
    assert paired[1]["BLEU"]["score"] == pytest.approx(ours["bleu4"]["system"], abs=1e-4)
    assert paired[0]["BLEU"]["score"] == pytest.approx(ours["bleu4"]["baseline"], abs=1e-4)
    assert ours["bleu4"]["delta"] > 0 and ours["bleu4"]["p"] < 0.05  # 40% vs 55% of the words wrong, 60 sentences


def test_intervals_cover_the_score_and_shrink_with_more_sentences():
    widths = []
    for n in (30, 240):
        hyps, refs = corpus(n, seed=1, noise=0.4)
        s = score(hyps, refs, "de")
        for m in significance.SCORES:
            i = s["intervals"][m]
            assert i["low"] <= s[m] <= i["high"], (n, m)
            assert i["ci"] == pytest.approx((i["high"] - i["low"]) / 2)
        widths.append(s["intervals"]["bleu4"]["ci"])
    assert widths[1] < 0.6 * widths[0]  # ~1/sqrt(8) in theory


def test_rouge_l_resamples_the_same_sentences_as_bleu():
    hyps, refs = corpus(20, seed=2, noise=0.3)
    hyps, refs = [normalise(h, "de") for h in hyps], [normalise(r, "de") for r in refs]
    idx = significance.resample_indices(len(hyps), resamples=5)
    samples = significance.resampled_scores(hyps, refs, idx)
    for k in range(5):
        chosen_h, chosen_r = [hyps[i] for i in idx[k]], [refs[i] for i in idx[k]]
        direct = significance.corpus_scores(chosen_h, chosen_r)
        assert samples["rouge_l"][k] == pytest.approx(direct["rouge_l"])
        assert samples["bleu4"][k] == pytest.approx(direct["bleu4"], abs=1e-6)


def test_perfect_and_identical_systems():
    hyps, refs = corpus(25, seed=3, noise=0.0)
    s = score(refs, refs, "de")
    assert all(s["intervals"][m]["low"] == s["intervals"][m]["high"] == pytest.approx(100.0)
               for m in significance.SCORES)
    same = significance.paired_test(hyps, hyps, refs)
    assert all(same[m]["delta"] == 0.0 for m in significance.SCORES)  # (sacreBLEU's p is then 1/1001: read Δ too)
