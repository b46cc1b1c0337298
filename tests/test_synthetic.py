"""The synthetic signing corpus: grammar, lexicon, renderer, mp4 output, PHOENIX layout."""

from __future__ import annotations

import collections
import csv
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import decord
import numpy as np
import pytest

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.data.synthetic import (
    TINY_CORPUS,
    generate_corpus,
    generate_pairs,
    gloss_vocabulary,
    make_signers,
    render_video,
    sign_for,
)
from sign2gpt.data.synthetic import corpus as corpus_mod
from sign2gpt.data.synthetic.render import plan_motion
from sign2gpt.data.synthetic.signs import HAND_PALETTE, HAND_SHAPES

HEADER = "name|video|start|end|speaker|orth|translation"
SPLITS = ("train", "dev", "test")


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="|", quoting=csv.QUOTE_NONE))


def _manual(root: Path, split: str) -> Path:
    return root / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"


def _segments(root: Path, split: str) -> Path:
    return root / "annotations" / "segments" / f"PHOENIX-2014-T.{split}.segments.csv"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "raw"
    generate_corpus(root, **TINY_CORPUS)
    return root


# ---------------------------------------------------------------- grammar


@pytest.mark.parametrize("language", ["de", "zh"])
def test_grammar_is_a_function_of_the_seed(language):
    a = generate_pairs(language, 60, np.random.default_rng(3))
    b = generate_pairs(language, 60, np.random.default_rng(3))
    c = generate_pairs(language, 60, np.random.default_rng(4))
    assert a == b
    assert a != c


def _translit(gloss: str) -> str:
    return gloss.lower().replace("ae", "ä").replace("oe", "ö").replace("ue", "ü").replace("ss", "ß")


def _order_differs_de(glosses: list[str], sentence: str) -> bool | None:
    """Whether the glosses found in the sentence (by stem prefix) appear in another order."""
    words = sentence.split()
    pos = []
    for g in glosses:
        stem = _translit(g)
        hits = [i for i, w in enumerate(words) if w.startswith(stem) or w.startswith(g.lower())]
        if hits:
            pos.append(hits[0])
    return None if len(pos) < 2 else pos != sorted(pos)


def test_german_grammar_looks_like_phoenix():
    pairs = generate_pairs("de", 400, np.random.default_rng(0))
    vocab = set(gloss_vocabulary("de"))
    assert 40 <= len(vocab) <= 70
    for glosses, sentence in pairs:
        assert 2 <= len(glosses) <= 7
        assert all(g == g.upper() and g.isascii() and g in vocab for g in glosses)
        assert sentence == sentence.lower() and sentence.endswith(" .") and "  " not in sentence
    sentences = [s for _, s in pairs]
    assert 200 <= len(set(sentences)) < len(sentences)  # varied, with repeats
    used = {g for glosses, _ in pairs for g in glosses}
    assert len(used) >= 0.9 * len(vocab)
    assert {"REGEN", "SONNE", "WOLKE", "NORD", "SUED", "MORGEN", "GRAD", "ZWOELF"} <= vocab
    text = " ".join(sentences)
    for inflected in ("wolken", "temperaturen", "süden", "zwölf"):
        assert f" {inflected} " in text
    flags = [f for f in (_order_differs_de(g, s) for g, s in pairs) if f is not None]
    assert sum(flags) >= 0.3 * len(flags), "sign order should often differ from spoken order"


def test_chinese_grammar_looks_like_csl_daily():
    pairs = generate_pairs("zh", 300, np.random.default_rng(0))
    vocab = set(gloss_vocabulary("zh"))
    assert 40 <= len(vocab) <= 70
    differs = 0
    for glosses, sentence in pairs:
        assert 2 <= len(glosses) <= 7 and all(g in vocab for g in glosses)
        assert " " not in sentence and sentence[-1] in "。？"
        pos = [sentence.find(g) for g in glosses if g in sentence]
        differs += pos != sorted(pos)
    assert differs >= 0.3 * len(pairs)
    assert len({s for _, s in pairs}) >= 150


def test_unknown_language_is_a_config_error():
    with pytest.raises(ConfigError, match="synthetic.language"):
        generate_pairs("fr", 3, np.random.default_rng(0))


# ---------------------------------------------------------------- lexicon


def test_lexicon_is_stable_across_processes_and_hash_seeds():
    code = (
        "from sign2gpt.data.synthetic.signs import sign_for; "
        "print(repr(sign_for('REGEN')), repr(sign_for('未知-gloss')))"
    )
    outs = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                capture_output=True, text=True).stdout)
    assert len(outs) == 1
    assert outs.pop().strip() == f"{sign_for('REGEN')!r} {sign_for('未知-gloss')!r}"
    # pinned: the SHA-256 stream must not change between versions, or old corpora change meaning
    regen = sign_for("REGEN")
    assert (HAND_SHAPES[regen.shape], regen.colour, regen.path, regen.two_handed) == (
        "flat", 2, "circle", "alternate")


def test_any_string_is_a_sign_with_a_motion():
    sign = sign_for("NEVER-SEEN-GLOSS-42")
    pose = sign.pose(np.linspace(0, 1, 9))
    assert pose["right"].shape == (9, 2) and pose["left"].shape == (9, 2)
    assert np.all(np.isfinite(pose["right"]))
    assert np.ptp(pose["right"], axis=0).max() > 0.1  # the hand moves


@pytest.mark.parametrize("language", ["de", "zh"])
def test_signs_are_not_readable_from_one_frames_colour(language):
    vocab = gloss_vocabulary(language)
    groups = collections.defaultdict(list)
    for g in vocab:
        s = sign_for(g)
        groups[(s.shape, s.colour)].append(s)
    assert len(groups) <= len(HAND_SHAPES) * len(HAND_PALETTE) < len(vocab) // 4
    biggest = max(groups.values(), key=len)
    assert len(biggest) >= 5  # many glosses share hand colour AND shape ...
    motions = {(s.path, s.two_handed, round(s.start[0], 3), round(s.start[1], 3)) for s in biggest}
    assert len(motions) == len(biggest)  # ... and differ only in motion and place


# ---------------------------------------------------------------- rendering


def test_render_segments_cover_the_glosses():
    signer = make_signers(2, 0)[1]
    glosses = ["MORGEN", "NORD", "REGEN"]
    frames, segments = render_video(glosses, signer, np.random.default_rng(0), image_size=32,
                                    frames_per_gloss=(5, 7), transition_frames=(2, 3), noise=0.0)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (32, 32, 3)
    assert len(segments) == len(glosses)
    t = len(frames)
    assert 0 < segments[0][0] and segments[-1][1] < t  # rest pose before and after
    for (a, b), (c, _) in zip(segments, segments[1:]):
        assert b - a >= 2 and b + 2 <= c  # transitions of >= 2 frames between glosses
    for a, b in segments:
        assert np.abs(np.diff(frames[a:b].astype(int), axis=0)).sum() > 0  # something moves
    again, _ = render_video(glosses, signer, np.random.default_rng(0), image_size=32,
                            frames_per_gloss=(5, 7), transition_frames=(2, 3), noise=0.0)
    assert np.array_equal(frames, again)


def test_same_gloss_same_motion_for_every_signer():
    a, b = make_signers(2, 5)
    assert (a.skin, a.background, a.scale) != (b.skin, b.background, b.scale)
    ta = plan_motion(["WOLKE", "SONNE"], a, np.random.default_rng(1))
    tb = plan_motion(["WOLKE", "SONNE"], b, np.random.default_rng(2))
    for (sa, _), (sb, _) in zip(ta.segments, tb.segments):  # sign start poses, body units
        assert np.allclose(ta.right[sa], tb.right[sb], atol=0.1)
        assert ta.shape_r[sa] == tb.shape_r[sb]


# ---------------------------------------------------------------- corpus


def test_corpus_layout_and_headers(tiny):
    for split in SPLITS:
        manual, segments = _manual(tiny, split), _segments(tiny, split)
        assert manual.read_text(encoding="utf-8").splitlines()[0] == HEADER
        assert segments.read_text(encoding="utf-8").splitlines()[0] == "name|segments"
        rows, segs = _read(manual), {r["name"]: r["segments"] for r in _read(segments)}
        assert len(rows) == TINY_CORPUS["splits"][split] == len(segs)
        for r in rows:
            assert r["video"] == f"videos/{split}/{r['name']}.mp4" and (tiny / r["video"]).is_file()
            assert r["start"] == r["end"] == "-1" and r["speaker"].startswith("Signer")
            pairs = [tuple(map(int, s.split("-"))) for s in segs[r["name"]].split()]
            assert len(pairs) == len(r["orth"].split())
            assert all(a < b for a, b in pairs) and all(b <= c for (_, b), (c, _) in zip(pairs, pairs[1:]))
    assert sorted(p.name for p in (tiny / "videos").iterdir()) == sorted(SPLITS)
    assert not [p for p in tiny.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_mp4_decodes_to_the_rendered_frames(tiny):
    row = _read(_manual(tiny, "dev"))[0]
    segs = _read(_segments(tiny, "dev"))[0]["segments"].split()
    reader = decord.VideoReader(str(tiny / row["video"]))
    decoded = reader.get_batch(list(range(len(reader)))).asnumpy()
    signer = make_signers(TINY_CORPUS["signers"], TINY_CORPUS["seed"])[int(row["speaker"][-2:]) - 1]
    rng = np.random.default_rng(np.random.SeedSequence([TINY_CORPUS["seed"], corpus_mod._VIDEO, 1, 0]))
    frames, segments = render_video(
        row["orth"].split(), signer, rng, image_size=TINY_CORPUS["image_size"],
        frames_per_gloss=TINY_CORPUS["frames_per_gloss"],
        transition_frames=TINY_CORPUS["transition_frames"], noise=TINY_CORPUS["noise"])
    assert len(reader) == len(frames) and decoded.shape == frames.shape
    assert [f"{a}-{b}" for a, b in segments] == segs
    assert np.abs(decoded.astype(float) - frames).mean() < 12  # colours survive compression
    # the hand palette colours are still there after yuv420p
    rgb = decoded.reshape(-1, 3).astype(float)
    near = [np.min(np.linalg.norm(rgb - np.asarray(c), axis=1)) for c in HAND_PALETTE]
    assert min(near) < 40


def test_test_only_signer_never_in_train_or_dev(tiny):
    n, k = TINY_CORPUS["signers"], TINY_CORPUS["test_only_signers"]
    test_only = {f"Signer{i + 1:02d}" for i in range(n - k, n)}
    speakers = {s: {r["speaker"] for r in _read(_manual(tiny, s))} for s in SPLITS}
    assert not test_only & (speakers["train"] | speakers["dev"])
    assert test_only <= speakers["test"]
    assert speakers["train"] == {f"Signer{i + 1:02d}" for i in range(n - k)}


def test_mp4_bytes_are_repeatable(tiny):
    """The same frames always give the same file. With x264's crf rate control, 20 encodes of these
    clips gave 2 different files for one clip in about one test process in four."""
    from sign2gpt.data.synthetic.mp4 import write_mp4

    out = tiny.parent / "repeat.mp4"
    for row in _read(_manual(tiny, "test")) + _read(_manual(tiny, "dev")):
        reader = decord.VideoReader(str(tiny / row["video"]))
        frames = np.ascontiguousarray(reader.get_batch(list(range(len(reader)))).asnumpy())
        files = set()
        for _ in range(40):
            write_mp4(out, frames, 25)
            files.add(out.read_bytes())
        assert len(files) == 1, f"{row['name']}: {len(files)} different files from 40 encodes"


def _render_in_a_fresh_process(out, cfg, workers):
    """generate_corpus in a new interpreter, as the workflow's synthetic_corpus job runs it."""
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=generate_corpus, args=(out,), kwargs={**cfg, "workers": workers})
    proc.start()
    proc.join(timeout=300)
    assert proc.exitcode == 0, f"rendering with {workers} worker(s) failed ({proc.exitcode})"


def test_corpus_is_identical_with_several_workers(tmp_path):
    cfg = dict(TINY_CORPUS, splits={"train": 6, "dev": 1, "test": 2})
    _render_in_a_fresh_process(tmp_path / "one", cfg, 1)
    _render_in_a_fresh_process(tmp_path / "two", cfg, 2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 6 + 9
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_from_csv_renders_the_given_text(tmp_path):
    src = tmp_path / "real" / "annotations" / "manual"
    src.mkdir(parents=True)
    rows = {
        "train": [("01April_2010_Thursday_heute-6697", "REGEN NORD", "im norden regnet es ."),
                  ("clip-2", "ZWANZIG GRAD UNBEKANNT", "zwanzig grad .")],
        "test": [("clip-3", "SONNE", "sonne .")],
    }
    for split, items in rows.items():
        lines = [HEADER] + [f"{n}|{n}/1/*.png|-1|-1|Signer08|{o}|{t}" for n, o, t in items]
        (src / f"PHOENIX-2014-T.{split}.corpus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "twin"
    generate_corpus(out, **dict(TINY_CORPUS, from_csv=tmp_path / "real"))
    for split, items in rows.items():
        got = [(r["name"], r["orth"], r["translation"]) for r in _read(_manual(out, split))]
        assert got == items
    assert not _manual(out, "dev").exists()
    seg = _read(_segments(out, "train"))[1]["segments"].split()
    assert len(seg) == 3  # one segment per gloss, unseen gloss included

    single = tmp_path / "single"
    generate_corpus(single, **dict(TINY_CORPUS, from_csv=src / "PHOENIX-2014-T.test.corpus.csv"))
    assert [r["name"] for r in _read(_manual(single, "train"))] == ["clip-3"]


def test_from_csv_bad_row_names_the_item(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\nok|v|-1|-1|S|REGEN|regen .\nclip-9|v|-1|-1|S| |leer .\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv:3 \(clip-9\): empty orth"):
        generate_corpus(tmp_path / "out", **dict(TINY_CORPUS, from_csv=bad))
    assert not (tmp_path / "out").exists()


def test_a_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    from sign2gpt.data.synthetic import layouts

    real = layouts.write_mp4

    def flaky(path, frames, fps, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk full")
        real(path, frames, fps, **kw)

    monkeypatch.setattr(layouts, "write_mp4", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_corpus(tmp_path / "raw", **TINY_CORPUS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, key", [
    ({"signers": 2, "test_only_signers": 2}, "test_only_signers"),
    ({"image_size": 33}, "image_size"),
    ({"splits": {"train": 2, "val": 1}}, "splits"),
    ({"frames_per_gloss": (5, 3)}, "frames_per_gloss"),
])
def test_bad_settings_name_the_key(tmp_path, change, key):
    with pytest.raises(ConfigError, match=key):
        generate_corpus(tmp_path / "raw", **dict(TINY_CORPUS, **change))
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("layout,kind,language", [("phoenix14t", "phoenix14t", "de"), ("csldaily", "csldaily", "zh")])
def test_release_layouts_are_read_by_the_presets_ingestion(tmp_path, layout, kind, language):
    """The renderer writes the exact release layouts; ingestion and frame reading take them as the real corpora."""
    from PIL import Image

    from sign2gpt.data.ingest import prepare_dataset
    from sign2gpt.data.video import read_frames

    root = tmp_path / "corpus"
    generate_corpus(root, **{**TINY_CORPUS, "language": language, "splits": {"train": 3, "dev": 1, "test": 1}},
                    layout=layout)
    if layout == "phoenix14t":
        assert (root / "annotations/manual/PHOENIX-2014-T.train.corpus.csv").is_file()
        assert not (root / "annotations/segments").exists()  # the release has none
        first = sorted((root / "features/fullFrame-210x260px/train").iterdir())[0]
        assert Image.open(first / "images0001.png").size == (210, 260)
    else:
        assert (root / "sentence_label/split_1.txt").read_text().startswith("name|split\n")
        first = sorted((root / "sentence/frames_512x512").iterdir())[0]
        assert Image.open(first / "000000.jpg").size == (512, 512)
    samples = prepare_dataset(kind, root, tmp_path / "manifest")
    assert [len(samples[s]) for s in ("train", "dev", "test")] == [3, 1, 1]
    sample = samples["train"][0]
    assert sample.text and sample.glosses and not sample.segments
    frames = read_frames(sample.video, size=64)
    assert frames.shape == (sample.num_frames, 64, 64, 3)
    if language == "zh":
        assert " " not in sample.text  # label_char joined, as the ingestion of the release does


def test_signer_independent_split_holds_the_test_signers_out_of_train_and_dev(tiny, tmp_path):
    """On the synthetic corpus: held-out signers' clips from every split form test, no test signer
    is in train or dev, nothing is lost, and split.json records the policy."""
    import json

    from sign2gpt.core.errors import ConfigError
    from sign2gpt.data.ingest import prepare_dataset

    official = prepare_dataset("synthetic", tiny, tmp_path / "official")
    assert json.loads((tmp_path / "official" / "split.json").read_text())["policy"] == "official"
    every = {s.id: s.signer for split in official.values() for s in split}
    signers = sorted(set(every.values()))
    assert len(signers) >= 3
    for policy in ({"test_signers": [signers[0]]}, {"folds": 2, "fold": 1}):
        out = tmp_path / str(len(policy))
        result = prepare_dataset("synthetic", tiny, out, signer_independent=policy)
        held = {signers[0]} if "test_signers" in policy else set(signers[1::2])
        assert {s.signer for s in result["test"]} == held
        assert not {s.signer for split in ("train", "dev") for s in result[split]} & held
        assert sorted(s.id for split in result.values() for s in split) == sorted(every)  # every clip is kept
        assert {s.id for s in result["dev"]} <= {s.id for s in official["dev"]}  # dev is never enlarged
        record = json.loads((out / "split.json").read_text())
        assert record["policy"] == "signer_independent" and record["test_signers"] == sorted(held)
        assert record["videos"] == {split: len(result[split]) for split in ("train", "dev", "test")}
    with pytest.raises(ConfigError, match=r"names \['Nobody'\], not among"):
        prepare_dataset("synthetic", tiny, tmp_path / "x", signer_independent={"test_signers": ["Nobody"]})
    with pytest.raises(ConfigError, match="holds out every signer"):
        prepare_dataset("synthetic", tiny, tmp_path / "x", signer_independent={"test_signers": signers})
    with pytest.raises(ConfigError, match="fold 3 of 2 folds"):
        prepare_dataset("synthetic", tiny, tmp_path / "x", signer_independent={"folds": 2, "fold": 3})


def test_how2sign_layout_renders_the_tables_text_and_prepare_ingests_it(tmp_path):
    """A synthetic twin of How2Sign: the release tables' English sentences, signed as their
    pseudo-glosses, written as sentence clips and realigned tables that the how2sign kind ingests."""
    from sign2gpt.data.ingest import prepare_dataset
    from sign2gpt.data.synthetic.corpus import read_how2sign_table

    fixture = Path(__file__).resolve().parents[1] / ".test" / "dry-run" / "How2Sign"
    rows = read_how2sign_table(fixture / "how2sign_realigned_test.csv")
    assert rows[0] == ("-g0iPSnQt6w_5-rgb_front", ["YOU", "ALSO", "USE", "ROLLING", "PIN", "FLATTEN", "IT"],
                       "You can also use the rolling pin to flatten it out.")
    out = tmp_path / "How2Sign"
    generate_corpus(out, **dict(TINY_CORPUS, from_csv=fixture), layout="how2sign")
    samples = prepare_dataset("how2sign", out, tmp_path / "m")
    assert {split: [s.text for s in v] for split, v in samples.items()} == {
        split: [text for _, _, text in read_how2sign_table(fixture / f"how2sign_realigned_{name}.csv")]
        for split, name in (("train", "train"), ("dev", "val"), ("test", "test"))}
    assert all(s.video.endswith("_rgb_front_clips/raw_videos/" + s.id + ".mp4") and s.num_frames > 1
               for v in samples.values() for s in v)
