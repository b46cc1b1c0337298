"""The report's paired comparisons and its warnings when a variant learned nothing."""

from __future__ import annotations

import numpy as np

from sign2gpt.report.comparisons import compare

WORDS = "regen schnee sonne wolken wind nord süd ost west morgen heute abend nacht kalt warm".split()


def _run(n: int, noise: float, seed: int, refs: list[str]) -> dict[str, tuple[str, str]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, ref in enumerate(refs):
        words = [w if rng.random() > noise else str(rng.choice(WORDS)) for w in ref.split()]
        out[f"v{i:03d}"] = (ref, " ".join(words))
    return out


def _refs(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(6, 11)))) for _ in range(n)]


def _compare(hyps):
    sentences = {"text-only baseline": "morgen regen im norden", "gates shut (no sign input)": ""}
    scores = {"text-only baseline": {"bleu4": 0.5, "rouge_l": 9.0},
              "gates shut (no sign input)": {"bleu4": 0.0, "rouge_l": 0.0}}
    return compare(hyps, sentences, scores, language="de", lowercase=False, strip_final_period=True)


def test_a_good_variant_beats_the_references_and_a_worse_one_with_no_warning():
    refs = _refs(80)
    hyps = {"pgp": {"1": _run(80, 0.2, 1, refs)}, "scratch": {"1": _run(80, 0.6, 2, refs)}}
    result = _compare(hyps)
    assert result["better_reference"] == "text-only baseline"
    tests = {(t["system"], t["baseline"]): t for t in result["tests"]}
    assert set(tests) == {("pgp", "scratch"), ("pgp", "text-only baseline"), ("scratch", "text-only baseline")}
    assert tests["pgp", "scratch"]["bleu4"]["delta"] > 0 and tests["pgp", "scratch"]["bleu4"]["p"] < 0.05
    assert result["warnings"] == []
    assert result["findings"][0] == ("pgp beats scratch on test BLEU-4 (higher, paired bootstrap p < 0.05) "
                                     "on 1 of 1 seed(s)")


def test_empty_repeated_and_reference_level_variants_are_named():
    refs = _refs(40)
    empty = {vid: (ref, "") for vid, (ref, _) in _run(40, 0.0, 0, refs).items()}
    repeated = {vid: (ref, "morgen regen") for vid, (ref, _) in empty.items()}
    hyps = {"pgp": {"1": empty}, "scratch": {"1": repeated}, "z": {"1": _run(40, 0.3, 3, refs)}}
    warnings = _compare(hyps)["warnings"]
    assert "pgp (seed 1), test: 100% of the hypotheses are empty" in warnings
    assert any(w.startswith("scratch (seed 1), test: 100% of the hypotheses are the same sentence") for w in warnings)
    assert sum("does not beat the reference row 'text-only baseline'" in w for w in warnings) == 2  # pgp, scratch
    assert not any(w.startswith("z ") for w in warnings)


def test_evaluation_warns_when_the_output_is_mostly_empty(tmp_path, caplog):
    from sign2gpt.data.manifest import Sample, write_manifest
    from sign2gpt.evaluation.evaluate import score_splits

    refs = _refs(10)
    write_manifest(tmp_path / "test.tsv", [Sample(f"v{i}", f"/videos/v{i}.mp4", 5, "s", r) for i, r in enumerate(refs)])
    hyps = {f"v{i}": ("" if i < 7 else refs[i]) for i in range(10)}
    with caplog.at_level("WARNING", logger="sign2gpt.evaluation.evaluate"):
        result = score_splits("pgp", {"test": hyps}, {"test": str(tmp_path / "test.tsv")}, language="de",
                              evaluate={"lowercase": False, "strip_final_period": True})
    health = result["splits"]["test"]["health"]
    assert health["empty"] == 0.7 and health["warnings"] == ["70% of the hypotheses are empty"]
    assert "pgp test: 70% of the hypotheses are empty: the model may have learned nothing" in caplog.text
    quiet = score_splits("pgp", {"test": dict(zip(hyps, refs))}, {"test": str(tmp_path / "test.tsv")}, language="de",
                         evaluate={"lowercase": False, "strip_final_period": True})
    assert quiet["splits"]["test"]["health"]["warnings"] == []
