"""The comparisons the paper makes, as paired bootstrap tests, and the checks that a variant
learned anything at all — so the report can say which differences are beyond chance.

Pairs (test split, per seed): pgp vs scratch (does pseudo-gloss pretraining help), z vs pgp
(does training on cached features cost anything), and every variant vs the better reference row
(the most frequent training sentence, or the frozen LM with its gates shut: a model that does not
beat both did not use the video). A variant "beats" another when its score is higher and the
paired test gives p < 0.05 (sacreBLEU's test gives p = 1/1001 even for identical output, so the
sign of Δ is part of the claim).

Health checks: a variant whose hypotheses are mostly (≥ half) empty, or mostly one and the same
sentence, or which does not beat the better reference row on BLEU-4, is named in a warning that
the report shows first and the log repeats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sign2gpt.evaluation.conventions import normalise
from sign2gpt.evaluation.metrics import output_health
from sign2gpt.evaluation.significance import paired_test

ALPHA = 0.05
PAIRS = (("pgp", "scratch"), ("z", "pgp"))


def beats(test: Mapping[str, float]) -> bool:
    """Higher and p < ALPHA (one metric's paired_test result)."""
    return test["delta"] > 0 and test["p"] < ALPHA


def better_reference(reference_scores: Mapping[str, Mapping[str, float]]) -> str:
    """The reference row with the higher test BLEU-4 (then ROUGE-L): the one to beat."""
    return max(reference_scores, key=lambda name: (reference_scores[name]["bleu4"], reference_scores[name]["rouge_l"]))


def compare(
    hypotheses: Mapping[str, Mapping[str, Mapping[str, tuple[str, str]]]],
    reference_sentences: Mapping[str, str],
    reference_scores: Mapping[str, Mapping[str, float]],
    *,
    language: str,
    lowercase: bool,
    strip_final_period: bool,
) -> dict:
    """hypotheses: {variant: {seed: {id: (reference, hypothesis)}}} of the test split;
    reference_sentences: {reference row: the sentence it outputs for every video};
    reference_scores: {reference row: its test scores}.

    Returns {"tests": [{seed, system, baseline, bleu4: {...}, rouge_l: {...}, ...}], "health": {variant:
    {seed: {...}}}, "warnings": [str], "findings": [str], "alpha", "better_reference"}.
    """
    def prep(text: str) -> str:
        return normalise(text, language, lowercase=lowercase, strip_final_period=strip_final_period)

    best_ref = better_reference(reference_scores)
    tests, warnings, status = [], [], {}
    pairs = [p for p in PAIRS if p[0] in hypotheses and p[1] in hypotheses]
    pairs += [(v, best_ref) for v in hypotheses]
    for system, baseline in pairs:
        for seed, rows in sorted(hypotheses[system].items()):
            ids = sorted(rows)
            refs = [prep(rows[i][0]) for i in ids]
            sys_h = [prep(rows[i][1]) for i in ids]
            if baseline in reference_sentences:
                base_h = [prep(reference_sentences[baseline])] * len(ids)
            else:
                other = hypotheses[baseline].get(seed)
                if other is None or sorted(other) != ids:
                    continue
                base_h = [prep(other[i][1]) for i in ids]
            result = paired_test(sys_h, base_h, refs)
            tests.append({"seed": seed, "system": system, "baseline": baseline, **result})
            status[system, baseline, seed] = beats(result["bleu4"])

    health_by = {}
    for variant, by_seed in hypotheses.items():
        for seed, rows in sorted(by_seed.items()):
            h = output_health([prep(rows[i][1]) for i in sorted(rows)])
            health_by.setdefault(variant, {})[seed] = h
            warnings += [f"{variant} (seed {seed}), test: {w}" for w in h["warnings"]]
            if not status.get((variant, best_ref, seed), True):
                warnings.append(f"{variant} (seed {seed}) does not beat the reference row '{best_ref}' on test BLEU-4 "
                                f"(paired bootstrap, p < {ALPHA}): it may not have learned from the video")

    findings = []
    for system, baseline in pairs:
        seeds = [s for (a, b, s) in status if (a, b) == (system, baseline)]
        if seeds:
            won = sum(status[system, baseline, s] for s in seeds)
            findings.append(f"{system} beats {baseline} on test BLEU-4 (higher, paired bootstrap p < {ALPHA}) "
                            f"on {won} of {len(seeds)} seed(s)")
    return {"alpha": ALPHA, "better_reference": best_ref, "tests": tests, "health": health_by,
            "warnings": warnings, "findings": findings}


def tests_table(tests: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """The paired tests as a table: header and rows (BLEU-4 and ROUGE-L: Δ and p)."""
    header = ["System", "vs", "Seed", "BLEU-4 Δ", "p", "ROUGE-L Δ", "p"]
    rows = [[t["system"], t["baseline"], str(t["seed"]), f"{t['bleu4']['delta']:+.2f}", f"{t['bleu4']['p']:.3f}",
             f"{t['rouge_l']['delta']:+.2f}", f"{t['rouge_l']['p']:.3f}"] for t in tests]
    return header, rows
