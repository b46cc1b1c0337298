"""Ingestion of each corpus kind, built here in its exact release layout with tiny media."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from media import make_video
from PIL import Image

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.data.decode import decode_shard
from sign2gpt.data.frame_store import FrameStore
from sign2gpt.data.ingest import prepare_dataset
from sign2gpt.data.manifest import read_manifest

PHOENIX_HEADER = "name|video|start|end|speaker|orth|translation"


def make_frames(folder: Path, n: int, ext: str, size=(26, 20)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.new("RGB", size, (10 * t, 0, 0)).save(folder / f"images{t + 1:04d}.{ext}")
    return folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def skipped_rows(out: Path) -> list[list[str]]:
    lines = (out / "skipped.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "split\tid\tsource\treason"
    return [line.split("\t") for line in lines[1:]]


# --- synthetic --------------------------------------------------------------------------------


def make_synthetic(root: Path) -> Path:
    lengths = {"train": [("tr0", 6, "0-3 3-6", "REGEN NORD"), ("tr1", 1, "0-1", "SONNE")],
               "dev": [("dv0", 4, "0-4", "WIND")], "test": [("te0", 5, "0-2 2-5", "MORGEN KALT")]}
    for split, rows in lengths.items():
        corpus, segs = [PHOENIX_HEADER], ["name|segments"]
        for name, n, seg, orth in rows:
            make_video(root / "videos" / split / f"{name}.mp4", n)
            corpus.append(f"{name}|videos/{split}/{name}.mp4|-1|-1|Signer0{n}|{orth}|es gibt {orth.lower()} .")
            segs.append(f"{name}|{seg}")
        write(root / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv", "\n".join(corpus) + "\n")
        write(root / "annotations" / "segments" / f"PHOENIX-2014-T.{split}.segments.csv", "\n".join(segs) + "\n")
    return root


def test_synthetic(tmp_path: Path):
    root = make_synthetic(tmp_path / "raw")
    result = prepare_dataset("synthetic", root, tmp_path / "manifest")
    assert {k: [s.id for s in v] for k, v in result.items()} == {"train": ["tr0", "tr1"], "dev": ["dv0"],
                                                                 "test": ["te0"]}
    train = read_manifest(tmp_path / "manifest" / "train.tsv")
    assert train == result["train"]
    s = train[0]
    assert (s.video, s.num_frames, s.signer, s.text) == (str(root / "videos/train/tr0.mp4"), 6, "Signer06",
                                                         "es gibt regen nord .")
    assert s.glosses == ["REGEN", "NORD"] and s.segments == [(0, 3), (3, 6)]
    assert train[1].num_frames == 1  # a 1-frame video
    assert skipped_rows(tmp_path / "manifest") == []


def test_synthetic_segments_must_match(tmp_path: Path):
    root = make_synthetic(tmp_path / "raw")
    write(root / "annotations/segments/PHOENIX-2014-T.dev.segments.csv", "name|segments\ndv0|0-2 2-4\n")
    with pytest.raises(DataError, match=r"dev\.segments\.csv:2: 2 segments for the 1 glosses of 'dv0'"):
        prepare_dataset("synthetic", root, tmp_path / "m")
    write(root / "annotations/segments/PHOENIX-2014-T.dev.segments.csv", "name|segments\ndv0|0-9\n")
    with pytest.raises(DataError, match="segments end at 9 but the video has 4 frames"):
        prepare_dataset("synthetic", root, tmp_path / "m")


# --- phoenix14t -------------------------------------------------------------------------------


def make_phoenix(root: Path) -> Path:
    frames = root / "features" / "fullFrame-210x260px"
    rows = {"train": [("01April_2010_Thursday_heute-6694", 12), ("p1", 3)], "dev": [("d0", 2)], "test": [("t0", 4)]}
    for split, items in rows.items():
        lines = [PHOENIX_HEADER]
        for name, n in items:
            # Frames directly in <name>/ although the CSV says <name>/1/*.png, as in the T release,
            # except p1, which has the <name>/1/ folder.
            folder = frames / split / name / ("1" if name == "p1" else "")
            make_frames(folder, n, "png")
            lines.append(f"{name}|{name}/1/*.png|-1|-1|Signer04|JETZT WETTER|und nun die wettervorhersage")
        write(root / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv", "\n".join(lines) + "\n")
    return root


def test_phoenix14t(tmp_path: Path):
    root = make_phoenix(tmp_path / "PHOENIX-2014-T")
    result = prepare_dataset("phoenix14t", root, tmp_path / "m")
    s = result["train"][0]
    assert s.video == str(root / "features/fullFrame-210x260px/train/01April_2010_Thursday_heute-6694")
    assert (s.num_frames, s.signer, s.glosses, s.segments) == (12, "Signer04", ["JETZT", "WETTER"], [])
    assert s.text == "und nun die wettervorhersage"
    assert result["train"][1].video.endswith("train/p1/1") and result["train"][1].num_frames == 3
    assert [len(result[k]) for k in ("train", "dev", "test")] == [2, 1, 1]


def test_phoenix14t_zero_byte_frames(tmp_path: Path):
    root = make_phoenix(tmp_path / "P")
    (root / "features/fullFrame-210x260px/dev/d0/images0002.png").write_bytes(b"")
    with pytest.raises(DataError,
                       match=r"d0 \(.*dev\.corpus\.csv:2\): 1 of 2 frames are damaged \(first: images0002.png: zero"):
        prepare_dataset("phoenix14t", root, tmp_path / "m")
    assert not (tmp_path / "m").exists()
    result = prepare_dataset("phoenix14t", root, tmp_path / "m", skip_bad_items=True)
    assert result["dev"] == [] and read_manifest(tmp_path / "m" / "dev.tsv") == []
    [[split, vid, source, reason]] = skipped_rows(tmp_path / "m")
    assert (split, vid) == ("dev", "d0") and source.endswith("dev.corpus.csv:2") and "zero bytes" in reason


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "zero":
        path.write_bytes(b"")
    elif how == "truncated":  # a copy cut short: the PNG lacks its end chunk
        path.write_bytes(data[: len(data) // 2])
    elif how == "foreign":  # another format under a .png name
        path.write_bytes(b"GIF89a" + data[6:])
    elif how == "corrupt":  # whole at both ends, broken inside: only decoding finds it
        path.write_bytes(data[:40] + bytes(20) + data[60:])


def test_damaged_frames_lose_frames_not_videos(tmp_path: Path):
    """The release layout with the damage a PHOENIX copy has: a clip whose 92 frames are all zero
    bytes and one with 3 zero-byte frames of 81 (the issue's case), a truncated and a foreign
    frame within the bound, and a test clip beyond it. `prepare` names every bad clip at once,
    keeps the damaged-but-usable ones with their bad frames listed, and decode repairs them."""
    root = make_phoenix(tmp_path / "P")
    frames = root / "features/fullFrame-210x260px"
    clips = {"train": [("allbad", 92, {t: "zero" for t in range(92)}),
                       ("few", 81, {10: "zero", 11: "zero", 40: "zero"})],
             "dev": [("cut", 20, {5: "truncated"})],
             "test": [("foreign", 10, {0: "foreign"}), ("t_bad", 4, {1: "truncated", 2: "zero"})]}
    for split, rows in clips.items():
        csv = root / f"annotations/manual/PHOENIX-2014-T.{split}.corpus.csv"
        for name, n, damage in rows:
            folder = make_frames(frames / split / name, n, "png")
            for t, how in damage.items():
                _damage(folder / f"images{t + 1:04d}.png", how)
            write(csv, csv.read_text() + f"{name}|{name}/1/*.png|-1|-1|Signer02|REGEN|es regnet\n")

    with pytest.raises(DataError) as err:
        prepare_dataset("phoenix14t", root, tmp_path / "m", max_bad_frame_share=0.1)
    message = str(err.value)
    assert message.startswith("allbad (") and "92 of 92 frames are damaged (first: images0001.png: zero" in message
    assert "2 of 9 videos are bad (train 1, test 1); t_bad (" in message and "2 of 4 frames are damaged" in message
    assert "dataset.skip_bad_items: true" in message and "max_bad_frame_share (now 0.1)" in message
    assert not (tmp_path / "m").exists()

    result = prepare_dataset("phoenix14t", root, tmp_path / "m", skip_bad_items=True, max_bad_frame_share=0.1)
    kept = {s.id: s for split in result.values() for s in split}
    assert "allbad" not in kept and "t_bad" not in kept
    assert kept["few"].bad_frames == [(10, 12), (40, 41)] and kept["few"].num_frames == 81
    assert kept["cut"].bad_frames == [(5, 6)] and kept["foreign"].bad_frames == [(0, 1)]
    assert read_manifest(tmp_path / "m" / "train.tsv")[-1] == kept["few"]
    assert {row[1]: row[0] for row in skipped_rows(tmp_path / "m")} == {"allbad": "train", "t_bad": "test"}
    # the same share without damage bounds is a strict corpus: every damaged clip is bad
    with pytest.raises(DataError, match=r"5 of 9 videos are bad \(train 2, dev 1, test 2\)"):
        prepare_dataset("phoenix14t", root, tmp_path / "strict")

    # decode replaces each damaged frame by the nearest earlier whole one (the next at the start),
    # and a frame that only decoding finds broken joins them
    _damage(frames / "train/few/images0061.png", "corrupt")
    for split in ("train", "test"):
        decode_shard(tmp_path / "m" / f"{split}.tsv", tmp_path / f"{split}.h5", shard=0, num_shards=1, stride=1,
                     size=None, storage="raw", max_bad_frame_share=0.1)
    with FrameStore([tmp_path / "train.h5", tmp_path / "test.h5"]) as store:
        few, foreign = store.read("few"), store.read("foreign")
        assert few.shape[0] == 81 and store.repaired_frames("few") == 4
        assert [few[t, 0, 0, 0] for t in (9, 10, 11, 12)] == [90, 90, 90, 120]  # make_frames: red = 10 t
        for t, source in ((10, 9), (11, 9), (40, 39), (60, 59)):
            assert np.array_equal(few[t], few[source])
        assert np.array_equal(foreign[0], foreign[1]) and store.repaired_frames("foreign") == 1
        assert store.repaired_frames("01April_2010_Thursday_heute-6694") == 0
    with pytest.raises(DataError, match=r"few.*5 of 81 frames are damaged.*allows 0.05"):
        _damage(frames / "train/few/images0071.png", "corrupt")
        decode_shard(tmp_path / "m" / "train.tsv", tmp_path / "again.h5", shard=0, num_shards=1, stride=1,
                     size=None, storage="raw", max_bad_frame_share=0.05)


def test_phoenix14t_missing_folder_and_escape(tmp_path: Path):
    root = make_phoenix(tmp_path / "P")
    csv = root / "annotations/manual/PHOENIX-2014-T.test.corpus.csv"
    write(csv, csv.read_text() + "gone|gone/1/*.png|-1|-1|Signer01|X|y\n")
    with pytest.raises(DataError,
                       match=r"gone \(.*test\.corpus\.csv:3\): frame folder not found .*tried gone/1 or gone"):
        prepare_dataset("phoenix14t", root, tmp_path / "m")
    assert len(prepare_dataset("phoenix14t", root, tmp_path / "m", skip_bad_items=True)["test"]) == 1
    write(csv, csv.read_text() + "evil|../../../../../../etc/*.png|-1|-1|Signer01|X|y\n")
    with pytest.raises(DataError, match=r"test\.corpus\.csv:4: path .* points outside the dataset root"):
        prepare_dataset("phoenix14t", root, tmp_path / "m", skip_bad_items=True)  # never skipped


# --- csldaily ---------------------------------------------------------------------------------


def make_csl(root: Path, info: list[dict] | None = None) -> Path:
    frames = root / "sentence" / "frames_512x512"
    make_frames(frames / "S000000_P0000_T00", 5, "jpg", size=(32, 32))
    make_frames(frames / "S000001_P0001_T00", 3, "jpg", size=(32, 32))
    make_frames(frames / "S000002_P0002_T00", 2, "jpg", size=(32, 32))
    write(root / "sentence_label" / "split_1.txt",
          "name|split\nS000000_P0000_T00|train\nS000001_P0001_T00|dev\nS000002_P0002_T00|test\nS000003_P0000_T00|other\n")
    if info is None:
        info = [
            {"name": "S000000_P0000_T00", "length": 5, "label_gloss": ["你", "好"], "label_char": ["你", "好", "。"],
             "label_word": ["你好", "。"], "signer": 0},
            {"name": "S000001_P0001_T00", "length": 3, "label_gloss": ["谢谢"], "label_char": ["谢", "谢"],
             "label_word": ["谢谢"], "signer": 1},
            {"name": "S000002_P0002_T00", "length": 2, "label_gloss": ["再见"], "label_char": ["再", "见"],
             "label_word": ["再见"], "signer": 2},
            {"name": "S000003_P0000_T00", "length": 2, "label_gloss": ["X"], "label_char": ["x"], "label_word": ["x"],
             "signer": 0},
        ]
    (root / "sentence_label" / "csl2020ct_v2.pkl").write_bytes(pickle.dumps({"info": info, "gloss_map": ["你"]}))
    return root


def test_csldaily(tmp_path: Path):
    root = make_csl(tmp_path / "CSL-Daily")
    result = prepare_dataset("csldaily", root, tmp_path / "m")
    assert [[s.id for s in result[k]] for k in ("train", "dev", "test")] == [["S000000_P0000_T00"],
                                                                             ["S000001_P0001_T00"],
                                                                             ["S000002_P0002_T00"]]
    s = result["train"][0]
    assert (s.text, s.glosses, s.signer, s.num_frames) == ("你好。", ["你", "好"], "0", 5)
    assert s.video == str(root / "sentence/frames_512x512/S000000_P0000_T00")


class _Payload:
    """Unpickling this would create a file: the restricted unpickler must never call it."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_csldaily_refuses_code_in_pickle(tmp_path: Path):
    marker = tmp_path / "pwned"
    root = make_csl(tmp_path / "CSL-Daily", info=[{"name": "x", "payload": _Payload(str(marker))}])
    with pytest.raises(DataError,
                       match=r"csl2020ct_v2\.pkl: cannot read as a plain-data pickle.*refusing to load pathlib"):
        prepare_dataset("csldaily", root, tmp_path / "m")
    assert not marker.exists()
    root = make_csl(tmp_path / "CSL2", info=[{"name": "S000000_P0000_T00", "label_char": ["a"]}])
    with pytest.raises(DataError, match=r"info\[0\]: missing key\(s\) label_gloss, signer"):
        prepare_dataset("csldaily", root, tmp_path / "m")


# --- folder -----------------------------------------------------------------------------------


def make_folder_corpus(root: Path, extra_rows: str = "") -> Path:
    make_video(root / "clips" / "a.mp4", 7)
    make_video(root / "clips" / "b.mp4", 1)
    make_frames(root / "clips" / "c_frames", 4, "png")
    write(root / "index.csv",
          "id,file,split,text,signer,glosses\n"
          'a,clips/a.mp4,train,"Hallo, Welt",s1,HALLO WELT\n'
          "b,clips/b.mp4,dev,Guten Tag,s2,\n"
          "c,clips/c_frames,test,Tschüss,,\n" + extra_rows)
    return root


def test_folder(tmp_path: Path):
    root = make_folder_corpus(tmp_path / "vids")
    result = prepare_dataset("folder", root, tmp_path / "m")
    a, b, c = result["train"][0], result["dev"][0], result["test"][0]
    assert (a.text, a.signer, a.glosses, a.num_frames) == ("Hallo, Welt", "s1", ["HALLO", "WELT"], 7)
    assert (b.num_frames, b.glosses) == (1, [])
    assert (c.video, c.num_frames, c.text) == (str(root / "clips/c_frames"), 4, "Tschüss")


def test_folder_bad_items_error_or_skip(tmp_path: Path):
    root = tmp_path / "vids"
    (root / "clips" / "empty_frames").mkdir(parents=True)
    (root / "clips" / "zero.mp4").write_bytes(b"")
    full = make_video(root / "clips" / "full.mp4", 30).read_bytes()
    (root / "clips" / "trunc.mp4").write_bytes(full[: len(full) // 3])
    (root / "clips" / "junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    make_folder_corpus(root, "d,clips/missing.mp4,train,eins,,\ne,clips/zero.mp4,train,zwei,,\n"
                             "f,clips/trunc.mp4,dev,drei,,\ng,clips/empty_frames,test,vier,,\n"
                             "h,clips/junk.mp4,test,fünf,,\ni,clips/full.mp4,test,,,\n")
    with pytest.raises(DataError, match=r"d \(.*index\.csv:5\): video not found: .*missing\.mp4"):
        prepare_dataset("folder", root, tmp_path / "m")
    result = prepare_dataset("folder", root, tmp_path / "m", skip_bad_items=True)
    assert [s.id for s in result["train"] + result["dev"] + result["test"]] == ["a", "b", "c"]
    reasons = {row[1]: row[3] for row in skipped_rows(tmp_path / "m")}
    assert sorted(reasons) == ["d", "e", "f", "g", "h", "i"]
    assert "not found" in reasons["d"] and "0 bytes" in reasons["e"] and "cannot open video" in reasons["f"]
    assert "no image files" in reasons["g"] and "cannot open video" in reasons["h"] and reasons["i"] == "empty text"


@pytest.mark.parametrize(
    "index, needle",
    [
        ("id,file,text\na,clips/a.mp4,x\n", r"index\.csv: missing column\(s\) split"),
        ("id,file,split,text\na,clips/a.mp4,train,x\na,clips/b.mp4,dev,y\n",
         r"index\.csv:3: duplicate id 'a' \(first at .*index\.csv:2\)"),
        ("id,file,split,text\na,../outside.mp4,train,x\n",
         r"index\.csv:2: path '\.\./outside\.mp4' points outside the dataset root"),
        ("id,file,split,text\na,/etc/passwd,train,x\n", "points outside the dataset root"),
        ("id,file,split,text\na,clips/a.mp4,val,x\n", "split 'val' is not one of train, dev, test"),
    ],
)
def test_folder_corpus_errors_are_never_skipped(tmp_path: Path, index: str, needle: str):
    root = make_folder_corpus(tmp_path / "vids")
    write(root / "index.csv", index)
    make_video(tmp_path / "outside.mp4", 2)
    with pytest.raises(DataError, match=needle):
        prepare_dataset("folder", root, tmp_path / "m", skip_bad_items=True)
    assert not (tmp_path / "m").exists()


def test_non_utf8_names_file_and_line(tmp_path: Path):
    root = make_folder_corpus(tmp_path / "vids")
    (root / "idx.csv").write_bytes(b"id,file,split,text\na,clips/a.mp4,train,ok\n"
                                   + "b,clips/b.mp4,dev,grün\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"idx\.csv:3: not valid UTF-8"):
        prepare_dataset("folder", root, tmp_path / "m", index="idx.csv")


def test_unknown_kind_and_missing_root(tmp_path: Path):
    with pytest.raises(ConfigError, match="dataset.kind"):
        prepare_dataset("openasl", tmp_path, tmp_path / "m")
    with pytest.raises(DataError, match=r"how2sign_realigned_train\.csv: annotation file not found"):
        prepare_dataset("how2sign", tmp_path, tmp_path / "m")
    with pytest.raises(DataError, match="not a folder"):
        prepare_dataset("folder", tmp_path / "nope", tmp_path / "m")
    with pytest.raises(DataError, match=r"PHOENIX-2014-T\.train\.corpus\.csv: annotation file not found"):
        prepare_dataset("phoenix14t", tmp_path, tmp_path / "m")
