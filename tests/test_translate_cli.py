"""`sign2gpt translate` around the model: which inputs it takes, how it reports bad ones, devices,
and the relative paths that let a run folder move. (Translating with a trained run and exported
model folders: tests/test_workflow.py, on the finished tiny run.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sign2gpt.app.cli import main
from sign2gpt.core.errors import ConfigError
from sign2gpt.core.io import portable_path, resolve_portable_path
from sign2gpt.data.synthetic.mp4 import write_mp4
from sign2gpt.inference.inputs import collect_videos
from sign2gpt.runtime.device import resolve_device


def _video(path: Path, frames: int = 6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, np.random.default_rng(0).integers(0, 255, (frames, 16, 16, 3), dtype=np.uint8), 25)
    return path


def _frame_folder(path: Path, frames: int = 3) -> Path:
    from PIL import Image

    path.mkdir(parents=True)
    for i in range(frames):
        Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)).save(path / f"{i:04d}.png")
    return path


def test_inputs_are_expanded_and_each_bad_one_named(tmp_path):
    good = _video(tmp_path / "a.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    frames = _frame_folder(tmp_path / "frames")
    batch = tmp_path / "batch"
    v1, v2 = _video(batch / "x.mp4"), _video(batch / "y.mkv")
    nested = _frame_folder(batch / "clip3")
    (batch / "notes.md").write_text("not a video")
    listing = tmp_path / "lists" / "videos.csv"
    listing.parent.mkdir()
    listing.write_text("id,video\n1,../a.mp4\n# a comment,\n2,../gone.mp4\n")
    image = frames / "0000.png"

    unreadable = tmp_path / "unreadable.csv"
    unreadable.write_bytes(b"video\n\xff\xfe.mp4\n")  # not UTF-8
    # a bad item first: collection goes on past it to every other input
    # and past each kind of bad item (a folder without videos is not the last one either)
    videos, problems = collect_videos([str(tmp_path / "missing.mp4"), str(good), str(empty), str(tmp_path / "lists"),
                                       str(frames), str(batch), str(listing), str(image), str(unreadable)])
    errors = [str(e) for e in problems]  # "item: problem"
    assert videos == [str(good), str(frames), str(v1), str(v2), str(nested), str(listing.parent / "../a.mp4")]
    assert len(errors) == 6, errors
    for name, problem in [("missing.mp4", "not found"), ("empty.mp4", "empty"), ("gone.mp4", "not found"),
                          ("0000.png", "single image"), ("lists", "no videos"), ("unreadable.csv", "cannot read")]:
        assert sum(name in e and problem in e for e in errors) == 1, (name, errors)


def test_lists_name_videos_by_their_video_column_or_else_the_first(tmp_path):
    """A .tsv splits on tabs, a .csv/.txt on commas; the `video` column where a header names one (a
    row without it is skipped), else the first; blank lines and comments (indented too) skipped."""
    a, b = _video(tmp_path / "a.mp4"), _video(tmp_path / "b.mp4")
    (tmp_path / "l.tsv").write_text("id\tvideo\tnote\n1\ta.mp4\tx,y\n  # skipped\n2\n3\tb.mp4\t\n")
    (tmp_path / "l.txt").write_text("a.mp4\n\n  # an indented comment\nb.mp4\n")
    (tmp_path / "l.csv").write_text("a.mp4,first\nb.mp4,second\n")
    videos, errors = collect_videos([str(tmp_path / name) for name in ("l.tsv", "l.txt", "l.csv")])
    assert not errors and videos == [str(a), str(b)] * 3


def test_every_bad_input_reported_before_any_model_loads(tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    out = tmp_path / "out.tsv"
    rc = main(["translate", str(tmp_path / "missing.mp4"), str(tmp_path / "empty.mp4"),
               "--run", str(tmp_path / "no-run"), "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 3 and "missing.mp4" in lines[0] and "empty.mp4" in lines[1] and "2 of 2" in lines[2], err
    assert "no-run" not in err  # the run was never opened: inputs come first
    rows = out.read_text().splitlines()
    assert rows[0] == "video\ttranslation\terror" and len(rows) == 3 and all(r.split("\t")[2] for r in rows[1:])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_one_line(tmp_path, capsys):
    video = _video(tmp_path / "a.mp4")
    rc = main(["translate", str(video), "--run", str(tmp_path / "no-run"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "'cuda'" in err and "--device cpu" in err, err


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="not a device name"):
        resolve_device("gpu0")
    # each branch, whatever this machine has: a CPU-only build, a CUDA build without a GPU, one GPU
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="built without CUDA"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda") == resolve_device()  # auto is the default
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=r"only 1 GPU\(s\) visible"):
        resolve_device("cuda:1")


def test_portable_paths_are_relative_and_resolve_back(tmp_path):
    run = tmp_path / "results" / "exp" / "seed1" / "translate-pgp"
    lm = tmp_path / "results" / "lm"
    run.mkdir(parents=True)
    lm.mkdir()
    rel = portable_path(str(lm), run)
    assert rel == "../../../lm"
    assert resolve_portable_path(rel, run) == str(lm.resolve())
    for kept in ("facebook/xglm-564M", None, str(tmp_path / "absent")):  # hub ids, nothing, paths not there
        assert portable_path(kept, run) == kept and resolve_portable_path(kept, run) == kept
    assert resolve_portable_path(str(lm), run) == str(lm)  # absolute paths (older runs) kept


def test_the_name_model_cards_use_still_imports():
    """Model cards written before sign2gpt.inference name sign2gpt.translate_video.VideoTranslator."""
    from sign2gpt import translate_video
    from sign2gpt.inference.video_translator import VideoTranslator

    assert translate_video.VideoTranslator is VideoTranslator and translate_video.collect_videos is collect_videos


def test_an_export_carries_its_base_models_licence_files(tmp_path):
    """`export` copies a local base model's NOTICE / LICENSE / terms files into licences/<base>/,
    copied base or not (the Gemma Terms ask every distribution of a model derivative to carry them);
    a hub id or a folder without them adds nothing."""
    from sign2gpt.inference.export import _base_reference

    lm = tmp_path / "gemma"
    lm.mkdir()
    for name in ("NOTICE", "GEMMA_TERMS.html", "config.json", "model.safetensors"):
        (lm / name).write_text(name)
    out = tmp_path / "export"
    ref = _base_reference("lm", str(lm), out, copy=False)
    assert ref["licences"] == ["licences/lm/GEMMA_TERMS.html", "licences/lm/NOTICE"] and not ref["copied"]
    assert sorted(p.name for p in (out / "licences" / "lm").iterdir()) == ["GEMMA_TERMS.html", "NOTICE"]
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    assert "licences" not in _base_reference("backbone", str(bare), out, copy=False)
    assert "licences" not in _base_reference("lm", "facebook/xglm-564M", out, copy=False)
