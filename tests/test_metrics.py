"""BLEU / ROUGE-L against hand-computed values, known properties, and the scoring conventions."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.evaluation import conventions, metrics
from sign2gpt.evaluation.conventions import CONVENTIONS, normalise, score

# ----------------------------------------------------------------------------- BLEU by hand


def test_bleu_hand_computed_with_brevity_penalty():
    # hyp: a b c d (4 tokens), ref: a b c e f (5 tokens)
    # p1 = 3/4, p2 = 2/3 (ab, bc), p3 = 1/2 (abc), p4 = 0/1; BP = exp(1 - 5/4)
    out = metrics.bleu(["a b c d"], ["a b c e f"])
    bp = math.exp(1 - 5 / 4)
    assert out["bleu1"] == pytest.approx(100 * bp * 3 / 4)  # 58.41
    assert out["bleu2"] == pytest.approx(100 * bp * math.sqrt(3 / 4 * 2 / 3))
    assert out["bleu3"] == pytest.approx(100 * bp * (3 / 4 * 2 / 3 * 1 / 2) ** (1 / 3))
    assert out["bleu4"] == 0.0  # no smoothing: a zero precision gives 0
    assert out["bleu1"] == pytest.approx(58.41, abs=0.01)
    assert out["bp"] == pytest.approx(bp)
    assert (out["hyp_len"], out["ref_len"]) == (4, 5)


def test_bleu_clipped_counts_and_no_penalty_for_long_hypothesis():
    # "the" appears once in the reference: clipped count 1 of 3; hyp longer -> BP = 1
    out = metrics.bleu(["the the the"], ["the cat"])
    assert out["bleu1"] == pytest.approx(100 / 3)
    assert out["bp"] == 1.0


def test_bleu_is_corpus_level_not_sentence_average():
    # sentence 1 matches fully, sentence 2 not at all: corpus p1 = 2/4, not mean of 1 and 0
    out = metrics.bleu(["a b", "c d"], ["a b", "x y"])
    assert out["bleu1"] == pytest.approx(50.0)
    # p2 = 1/2 (ab matched, cd not): cumulative sqrt(1/2 * 1/2) = 1/2
    assert out["bleu2"] == pytest.approx(50.0)


def test_bleu_effective_order_for_short_corpus():
    # no 3- or 4-grams exist anywhere: BLEU-4 uses orders 1..2 only (effective order)
    out = metrics.bleu(["a b"], ["a b"])
    assert out["bleu4"] == pytest.approx(100.0)


def test_bleu_signature_records_convention():
    sig = metrics.bleu(["a"], ["a"])["signature"]
    assert "tok:none" in sig and "smooth:floor[0.00]" in sig and "eff:yes" in sig and "nrefs:1" in sig


def test_bleu_identical_and_disjoint():
    refs = ["es regnet im norden", "morgen scheint die sonne im süden"]
    assert all(metrics.bleu(refs, refs)[f"bleu{n}"] == pytest.approx(100) for n in range(1, 5))
    assert all(metrics.bleu(["x y z w v"] * 2, refs)[f"bleu{n}"] == 0 for n in range(1, 5))


def test_bleu_input_errors_name_the_problem():
    with pytest.raises(DataError, match="2 hypotheses but 1 references"):
        metrics.bleu(["a", "b"], ["a"])
    with pytest.raises(DataError, match="empty"):
        metrics.bleu([], [])
    with pytest.raises(DataError, match="hypothesis 1"):
        metrics.bleu(["a", None], ["a", "b"])  # type: ignore[list-item]


# ----------------------------------------------------------------------------- ROUGE-L by hand


def test_lcs_length():
    assert metrics.lcs_length("a b c d e".split(), "a x c e".split()) == 3
    assert metrics.lcs_length("a b".split(), []) == 0
    assert metrics.lcs_length("b a".split(), "a b".split()) == 1


def test_rouge_l_hand_computed():
    # LCS(a b c d e, a x c e) = a c e = 3; P = 3/5, R = 3/4, beta^2 = 1.44
    p, r, b2 = Fraction(3, 5), Fraction(3, 4), Fraction(144, 100)
    f = (1 + b2) * p * r / (r + b2 * p)  # = 0.68030
    assert metrics.rouge_l(["a b c d e"], ["a x c e"]) == pytest.approx(100 * float(f))
    assert metrics.rouge_l(["a b c d e"], ["a x c e"]) == pytest.approx(68.03, abs=0.01)


def test_rouge_l_averages_sentences_and_zero_cases():
    # sentence scores 1 and 0 -> 50; empty hypothesis scores 0
    assert metrics.rouge_l(["a b", "c"], ["a b", "d"]) == pytest.approx(50.0)
    assert metrics.rouge_l([""], ["a b"]) == 0.0
    # repeated spaces do not create empty tokens
    assert metrics.rouge_l(["a  b"], ["a b"]) == pytest.approx(100.0)


def test_rouge_l_beta_weights_recall():
    # P = 1 (hyp is a subsequence), R = 1/2: beta > 1 pulls F towards R
    f_beta1 = metrics.rouge_l(["a b"], ["a b c d"], beta=1.0)
    f_beta12 = metrics.rouge_l(["a b"], ["a b c d"])
    assert f_beta1 == pytest.approx(100 * 2 * 0.5 / 1.5)
    assert f_beta12 < f_beta1
    with pytest.raises(ValueError):
        metrics.rouge_l(["a"], ["a"], beta=0)


# ----------------------------------------------------------------------------- properties

words = st.sampled_from(["es", "regnet", "sonne", "im", "norden", "süden", "wind", "morgen"])
sentences = st.lists(words, min_size=0, max_size=8).map(" ".join)
nonempty = st.lists(words, min_size=1, max_size=8).map(" ".join)
corpus = st.lists(st.tuples(sentences, sentences), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(corpus)
def test_scores_are_in_range(pairs):
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    b = metrics.bleu(hyps, refs)
    assert all(0.0 <= b[f"bleu{n}"] <= 100.0 + 1e-9 for n in range(1, 5))
    assert 0.0 <= metrics.rouge_l(hyps, refs) <= 100.0 + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(nonempty, min_size=1, max_size=5))
def test_identical_non_empty_scores_100(refs):
    b = metrics.bleu(refs, refs)
    assert all(b[f"bleu{n}"] == pytest.approx(100.0) for n in range(1, 5))
    assert metrics.rouge_l(refs, refs) == pytest.approx(100.0)


@settings(max_examples=60, deadline=None)
@given(corpus)
def test_rouge_symmetric_only_with_beta_one(pairs):
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    # swapping swaps P and R: F_1 is symmetric, F_1.2 is not in general
    assert metrics.rouge_l(hyps, refs, beta=1.0) == pytest.approx(metrics.rouge_l(refs, hyps, beta=1.0))
    for h, r in pairs:
        f, g = metrics.rouge_l_sentence(h, r), metrics.rouge_l_sentence(r, h)
        if len(h.split()) < len(r.split()) and f > 0:
            # shorter hypothesis: P > R, so recall-weighted F is below the swapped F
            assert f < g


@settings(max_examples=60, deadline=None)
@given(corpus)
def test_bleu_cumulative_orders_relation(pairs):
    # BLEU-n^n = BLEU-(n-1)^(n-1) * BP * p_n (cumulative geometric mean), when no order is empty
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    b = metrics.bleu(hyps, refs)
    if b["bleu1"] > 0 and min(len(h.split()) for h in hyps) >= 4:
        for n in range(2, 5):
            lhs = (b[f"bleu{n}"] / 100) ** n
            rhs = (b[f"bleu{n - 1}"] / 100) ** (n - 1) * b["bp"] * b["precisions"][n - 1] / 100
            assert lhs == pytest.approx(rhs, rel=1e-6, abs=1e-12)


# ----------------------------------------------------------------------------- conventions


def test_final_period_convention():
    assert normalise("es regnet im norden .", "de") == "es regnet im norden"
    assert normalise("es regnet im norden.", "de") == "es regnet im norden"
    assert normalise("es regnet im norden .", "de", strip_final_period=False) == "es regnet im norden ."
    assert normalise("z . b . morgen . .", "de") == "z . b . morgen ."  # only one period
    # with the default the final period does not count: "... ." vs "..." scores 100
    s = score(["es regnet ."], ["es regnet"], "de")
    assert s["bleu4"] == pytest.approx(100.0)
    assert score(["es regnet ."], ["es regnet"], "de", strip_final_period=False)["bleu1"] < 100


def test_whitespace_unicode_and_lowercase():
    assert normalise("  Es \t regnet\n  im  Norden ", "de", strip_final_period=False) == "Es regnet im Norden"
    assert normalise("Es Regnet", "de", lowercase=True) == "es regnet"
    decomposed = "su\u0308den"  # u + combining diaeresis
    assert normalise(decomposed, "de") == "süden"


def test_chinese_character_level():
    assert normalise("今天 天气很好。", "zh") == "今 天 天 气 很 好 。"
    # the CJK full stop is kept; an ASCII final period is stripped by the default
    assert normalise("你好.", "zh") == "你 好"
    # word segmentation does not matter: segmented and unsegmented hypotheses score the same
    s1 = score(["今天 天气 很 好。"], ["今天天气很好。"], "zh")
    assert s1["bleu4"] == pytest.approx(100.0)
    assert s1["rouge_l"] == pytest.approx(100.0)
    # one wrong character of 7: unigram precision 6/7
    s2 = score(["今天天气很坏。"], ["今天天气很好。"], "zh")
    assert s2["bleu1"] == pytest.approx(100 * 6 / 7)
    assert s2["conventions"]["level"] == "character"


def test_english_is_tokenized_with_sacrebleus_13a():
    assert normalise("It's done, then.", "en") == "It's done , then"
    assert normalise("Cut the (green) paper!", "en") == "Cut the ( green ) paper !"
    assert normalise("Cut the (green) paper!", "de") == "Cut the (green) paper!"  # German: its own tokens
    # punctuation attached or apart scores the same, as sacreBLEU's default tokenizer scores it
    s = score(["then you fold it , twice ."], ["Then you fold it, twice."], "en", lowercase=True)
    assert s["bleu4"] == pytest.approx(100.0) and s["conventions"]["tokenizer"] == "13a"
    import sacrebleu
    hyps, refs = ["you fold the paper,then cut it."], ["You fold the paper, then you cut it."]
    assert score(hyps, refs, "en", strip_final_period=False)["bleu4"] == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs]).score)


def test_score_output_records_everything():
    s = score(["es regnet ."], ["es regnet im norden ."], "de")
    assert set(s) >= {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "n", "signature", "conventions",
                      "versions"}
    assert s["n"] == 1
    assert s["conventions"]["strip_final_period"] is True and s["conventions"]["lowercase"] is False
    assert s["conventions"]["rouge_l"]["beta"] == 1.2
    assert s["versions"]["sacrebleu"].count(".") >= 1
    assert CONVENTIONS["bleu"]["tokenize"].startswith("none")


def test_bad_language_and_length_mismatch():
    with pytest.raises(ConfigError):
        conventions.normalise("a", "")
    with pytest.raises(DataError, match="1 hypotheses but 2 references"):
        score(["a"], ["a", "b"], "de")


def test_evaluation_keeps_the_other_final_period_choice_beside_the_scores(tmp_path):
    """The presets score the text as it is (the official code); the period-stripped figures stay in
    metrics.json, and the two differ when references end in ' .' and hypotheses do not."""
    from sign2gpt.data.manifest import Sample, write_manifest
    from sign2gpt.evaluation.evaluate import score_splits

    refs = {"a": "am tag scheint die sonne .", "b": "im norden regen .", "c": "morgen schnee im süden ."}
    write_manifest(tmp_path / "test.tsv", [Sample(i, "x", 1, text=t) for i, t in refs.items()])
    hyps = {"test": {i: t[:-2] for i, t in refs.items()}}  # perfect words, no final period
    as_is = score_splits("v", hyps, {"test": str(tmp_path / "test.tsv")}, language="de",
                         evaluate={"lowercase": False, "strip_final_period": False})["splits"]["test"]
    stripped = score_splits("v", hyps, {"test": str(tmp_path / "test.tsv")}, language="de",
                            evaluate={"lowercase": False, "strip_final_period": True})["splits"]["test"]
    assert stripped["bleu4"] == pytest.approx(100.0) and as_is["bleu4"] < 100.0
    assert as_is["conventions"]["strip_final_period"] is False
    assert as_is["alternative"]["strip_final_period"] is True
    assert as_is["alternative"]["bleu4"] == pytest.approx(stripped["bleu4"])
    assert stripped["alternative"]["bleu4"] == pytest.approx(as_is["bleu4"])
    assert stripped["alternative"]["rouge_l"] == pytest.approx(as_is["rouge_l"])


def test_the_final_period_form_appends_one_period_to_both_sides(tmp_path):
    """The convention of papers that append ' .' to both sides, recorded beside the configured scores:
    one ' .' whatever ends a sentence; per character for Chinese, after a CJK full stop. It moves the
    scores (not always up: a 4-gram ending in '.' matches only where the last three words do)."""
    from sign2gpt.data.manifest import Sample, write_manifest
    from sign2gpt.evaluation.evaluate import score_splits

    assert conventions.final_period_form("am tag regen", "de") == "am tag regen ."
    assert conventions.final_period_form("am tag regen .", "de") == "am tag regen ."  # never two
    assert conventions.final_period_form("am tag regen.", "de") == "am tag regen ."
    assert conventions.final_period_form("今天 下雨。", "zh") == "今 天 下 雨 。 ."
    assert conventions.final_period_form("", "de") == "."  # an empty hypothesis is the period alone
    refs = {"a": "am tag scheint die sonne", "b": "im norden regen", "c": "morgen schnee im süden"}  # as the CSVs
    write_manifest(tmp_path / "test.tsv", [Sample(i, "x", 1, text=t) for i, t in refs.items()])
    hyps = {"test": {"a": "am tag scheint sonne", "b": "im norden schnee", "c": "morgen schnee im süden"}}
    s = score_splits("v", hyps, {"test": str(tmp_path / "test.tsv")}, language="de",
                     evaluate={"lowercase": False, "strip_final_period": False})["splits"]["test"]
    fp = s["final_period"]
    assert fp["form"] == conventions.FINAL_PERIOD_FORM and fp["signature"].startswith("nrefs:1|")
    assert fp["bleu1"] > s["bleu1"] and fp["bleu4"] != s["bleu4"]  # one more matching unigram per sentence
    by_hand = score([h + " ." for h in hyps["test"].values()], [r + " ." for r in refs.values()], "de",
                    strip_final_period=False, intervals=False)
    assert fp["bleu4"] == pytest.approx(by_hand["bleu4"]) and fp["rouge_l"] == pytest.approx(by_hand["rouge_l"])


def test_output_health_gives_the_shares_and_warns_at_half():
    """Empty hypotheses and one sentence repeated are each warned about from half of the output on;
    an empty most-repeated sentence is warned about once, as empty."""
    h = metrics.output_health(["", "", "a b", "a b", "a b", "c"])
    assert h["empty"] == pytest.approx(1 / 3) and h["most_repeated"] == 0.5 and h["most_repeated_sentence"] == "a b"
    assert h["warnings"] == ["50% of the hypotheses are the same sentence ('a b')"]
    assert metrics.output_health(["", "", "", "x"])["warnings"] == ["75% of the hypotheses are empty"]
    assert metrics.output_health(["", "a", "", "b"])["warnings"] == ["50% of the hypotheses are empty"]
    assert metrics.output_health(["a", "b", "c"])["warnings"] == []
    with pytest.raises(DataError, match="hypotheses: nothing to check"):
        metrics.output_health([])


def test_bleu_reports_orders_one_to_four_and_the_fourth_orders_statistics():
    out = metrics.bleu(["am tag regen im norden", "morgen sonne"], ["am tag regen im süden", "morgen sonne"])
    assert set(out) == {"bleu1", "bleu2", "bleu3", "bleu4", "signature", "precisions", "bp", "hyp_len", "ref_len"}
    assert len(out["precisions"]) == 4 and "|" in out["signature"] and out["bleu1"] > out["bleu4"] > 0


def test_the_recorded_conventions_are_the_ones_used():
    de = conventions.conventions_for("de", lowercase=True, strip_final_period=False)
    zh = conventions.conventions_for("zh", lowercase=False, strip_final_period=True)
    assert (de["level"], de["lowercase"], de["strip_final_period"]) == ("word", True, False)
    assert (zh["level"], zh["lowercase"], zh["strip_final_period"]) == ("character", False, True)
    with_intervals = score(["am tag regen"], ["am tag regen"], "de", intervals=True)
    from sign2gpt.evaluation import significance

    assert with_intervals["bootstrap"] == {"resamples": significance.RESAMPLES, "seed": significance.SEED,
                                           "method": significance.METHOD}
