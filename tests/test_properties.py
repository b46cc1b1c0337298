"""Property tests (hypothesis): manifest and index-CSV parsing, and the metric functions.

test_metrics.py already checks score ranges, 100 for identical text, ROUGE-L symmetry at beta 1
and the cumulative BLEU relation; these add independent oracles and invariances.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from sign2gpt.core.errors import DataError
from sign2gpt.data.ingest import prepare_dataset
from sign2gpt.data.manifest import COLUMNS, Sample, read_manifest, write_manifest
from sign2gpt.evaluation import metrics
from sign2gpt.evaluation.conventions import normalise, score

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------
# Manifest

# Any text a TSV field may hold (no tab, no line break), surrogates excluded (not encodable).
field = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), max_size=12)
# A gloss is one whitespace-free token (the contract: glosses are space separated).
gloss = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=6).filter(
    lambda g: not any(c.isspace() for c in g)
)


@st.composite
def samples(draw, glosses=gloss) -> Sample:
    num_frames = draw(st.integers(1, 10**7))
    items = draw(st.lists(glosses, max_size=4))
    segments = []
    if items and draw(st.booleans()):
        for _ in items:
            start = draw(st.integers(0, num_frames - 1))
            segments.append((start, draw(st.integers(start + 1, num_frames))))
    return Sample(draw(field.filter(bool)), draw(field.filter(bool)), num_frames, draw(field), draw(field), items,
                  segments)


@SETTINGS
@given(st.lists(samples(), max_size=6, unique_by=lambda s: s.id))
def test_manifest_round_trips_any_unicode(tmp_path, rows):
    path = tmp_path / "m.tsv"
    write_manifest(path, rows)
    assert read_manifest(path) == rows


@SETTINGS
@given(st.lists(samples(glosses=field), min_size=1, max_size=4, unique_by=lambda s: s.id))
def test_manifest_write_refuses_what_read_would_not_return(tmp_path, rows):
    """Whatever write_manifest accepts, read_manifest gives back unchanged (a gloss with a space
    or an empty gloss would come back split or lost, or make the file unreadable)."""
    path = tmp_path / "m.tsv"
    try:
        write_manifest(path, rows)
    except DataError:
        return
    assert read_manifest(path) == rows


@SETTINGS
@given(st.lists(st.text("ab\t\n\r0123456789- é\ufeff\x00", max_size=40), max_size=5), st.booleans())
def test_any_manifest_file_reads_or_fails_with_a_data_error(tmp_path, lines, with_header):
    path = tmp_path / "fuzz.tsv"
    path.write_text("\n".join((["\t".join(COLUMNS)] if with_header else []) + lines), encoding="utf-8")
    try:
        rows = read_manifest(path)
    except DataError as e:
        assert "fuzz.tsv" in str(e)
    else:
        assert all(isinstance(s, Sample) and s.num_frames >= 1 and s.id for s in rows)


# ---------------------------------------------------------------------------------------------
# Index CSV of the `folder` corpus kind (csv quoting: commas, quotes, line breaks inside fields)

token = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8).filter(
    lambda t: not any(c.isspace() for c in t)
)
free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)  # quotes, commas, line breaks...
one_line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)  # a signer is one line


@pytest.fixture(scope="module")
def frame_folder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "clips" / "f").mkdir(parents=True)
    for t in range(3):
        Image.new("RGB", (8, 8), (t, 0, 0)).save(root / "clips" / "f" / f"{t}.png")
    return root


@SETTINGS
@given(st.lists(st.tuples(token, free_text, one_line, st.lists(token, max_size=3),
                          st.sampled_from(["train", "dev", "test"])),
                min_size=1, max_size=5, unique_by=lambda r: r[0]))
def test_index_csv_round_trips_through_ingestion(frame_folder_root, tmp_path_factory, rows):
    assume(all(text.split() for _, text, _, _, _ in rows))  # an empty text is a bad item (tested in test_ingest)
    root = frame_folder_root
    with open(root / "index.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "file", "split", "text", "signer", "glosses"])
        for vid, text, signer, glosses, split in rows:
            writer.writerow([vid, "clips/f", split, text, signer, " ".join(glosses)])
    result = prepare_dataset("folder", root, tmp_path_factory.mktemp("m"))
    got = {s.id: s for split in result.values() for s in split}
    assert sorted(got) == sorted(r[0] for r in rows)
    for vid, text, signer, glosses, split in rows:
        s = got[vid]
        assert s in result[split] and s.num_frames == 3 and s.video == str(root / "clips" / "f")
        assert s.text == " ".join(text.split()) and s.signer == signer.strip() and s.glosses == glosses


# ---------------------------------------------------------------------------------------------
# Metrics

word = st.sampled_from(["es", "regnet", "sonne", "im", "norden", "süden", "wind", "morgen", "und"])
sentence = st.lists(word, min_size=1, max_size=9).map(" ".join)
pairs = st.lists(st.tuples(sentence, sentence), min_size=1, max_size=6)


@SETTINGS
@given(pairs)
def test_bleu1_matches_clipped_unigram_precision_times_brevity_penalty(corpus):
    """An independent oracle for corpus BLEU-1 (Papineni et al.): clipped counts summed over the corpus."""
    matches = hyp_len = ref_len = 0
    for h, r in corpus:
        hc, rc = Counter(h.split()), Counter(r.split())
        matches += sum(min(n, rc[w]) for w, n in hc.items())
        hyp_len += sum(hc.values())
        ref_len += sum(rc.values())
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    expected = 100 * bp * matches / hyp_len
    got = metrics.bleu([h for h, _ in corpus], [r for _, r in corpus])
    assert got["bleu1"] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert (got["hyp_len"], got["ref_len"]) == (hyp_len, ref_len)


@SETTINGS
@given(pairs, st.randoms(use_true_random=False))
def test_corpus_scores_do_not_depend_on_sentence_order(corpus, rnd):
    shuffled = list(corpus)
    rnd.shuffle(shuffled)
    a = metrics.bleu([h for h, _ in corpus], [r for _, r in corpus])
    b = metrics.bleu([h for h, _ in shuffled], [r for _, r in shuffled])
    assert all(a[f"bleu{n}"] == pytest.approx(b[f"bleu{n}"], abs=1e-9) for n in range(1, 5))
    ra = metrics.rouge_l([h for h, _ in corpus], [r for _, r in corpus])
    assert ra == pytest.approx(metrics.rouge_l([h for h, _ in shuffled], [r for _, r in shuffled]))


@SETTINGS
@given(st.lists(word, max_size=10), st.lists(word, max_size=10), st.lists(st.booleans(), min_size=10, max_size=10))
def test_lcs_properties(a, b, keep):
    sub = [w for w, k in zip(a, keep) if k]  # a subsequence of a
    assert metrics.lcs_length(a, b) == metrics.lcs_length(b, a) <= min(len(a), len(b))
    assert metrics.lcs_length(a, a) == len(a)
    assert metrics.lcs_length(sub, a) == len(sub)
    common = sum((Counter(a) & Counter(b)).values())
    assert metrics.lcs_length(a, b) <= common  # an LCS only uses shared tokens


@SETTINGS
@given(sentence, sentence)
def test_rouge_l_sentence_is_bounded_by_the_unigram_f_score(h, r):
    hs, rs = h.split(), r.split()
    overlap = sum((Counter(hs) & Counter(rs)).values())
    f = metrics.rouge_l_sentence(h, r)
    if overlap == 0:
        assert f == 0.0
    else:
        p, rec = overlap / len(hs), overlap / len(rs)
        b2 = metrics.ROUGE_BETA**2
        assert f <= (1 + b2) * p * rec / (rec + b2 * p) + 1e-12


@SETTINGS
@given(st.text(max_size=30), st.sampled_from(["de", "zh"]), st.booleans(), st.booleans())
def test_normalise_is_idempotent(text, language, lowercase, strip):
    once = normalise(text, language, lowercase=lowercase, strip_final_period=strip)
    if strip:
        assume(not once.endswith("."))  # "a . ." loses one period per call, by definition
    assert normalise(once, language, lowercase=lowercase, strip_final_period=strip) == once


chinese = st.lists(st.sampled_from(list("今天天气很好我们去公园散步明早下雨")), min_size=1, max_size=12).map("".join)


@SETTINGS
@given(st.lists(st.tuples(chinese, chinese), min_size=1, max_size=5))
def test_chinese_is_scored_as_space_separated_characters(corpus):
    hyps, refs = [h for h, _ in corpus], [r for _, r in corpus]
    zh = score(hyps, refs, "zh")
    spaced = score([" ".join(h) for h in hyps], [" ".join(r) for r in refs], "de")
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"):
        assert zh[key] == pytest.approx(spaced[key], abs=1e-9)
