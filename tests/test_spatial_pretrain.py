"""Self-supervised backbone pretraining (rule spatial_pretrain): pair sampling, NT-Xent, and a
save_pretrained directory that stage 1 loads like a hub backbone."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import ResNetModel

from sign2gpt.core.config import DEFAULT_CONFIG
from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import read_json
from sign2gpt.data.frame_store import FrameStoreWriter
from sign2gpt.models import SpatialModel, build_backbone
from sign2gpt.runtime.tensorboard_log import read_scalars
from sign2gpt.training.spatial_pretrain import STATS_FILE, nt_xent, pretrain_spatial, sample_pairs

RESNET = {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1]}
SETTINGS = yaml.safe_load(DEFAULT_CONFIG.read_text())["spatial"]["pretrain"]  # every key, as config.yaml sets them


def test_pairs_come_from_distinct_videos_and_stay_close_in_time():
    rng = np.random.default_rng(0)
    num_frames = [30, 1, 5, 12, 40, 3]
    for _ in range(50):
        batch = sample_pairs(num_frames, rng, videos=4, frames=6, max_offset=2)
        videos = [v for v, _, _ in batch]
        assert len(videos) == 4 == len(set(videos))
        for v, anchors, positives in batch:
            n = num_frames[v]
            assert anchors.shape == positives.shape == (6,)
            assert anchors.min() >= 0 and max(anchors.max(), positives.max()) < n and positives.min() >= 0
            gap = np.abs(positives - anchors)
            if n == 1:
                assert np.all(gap == 0)  # a one-frame video pairs a frame with itself
            else:  # 1..max_offset apart unless the clip edge cut the step short
                clipped = (anchors + 2 >= n) | (anchors - 2 < 0)
                assert np.all(gap <= 2) and np.all((gap >= 1) | clipped)
    assert len(sample_pairs(num_frames, rng, videos=99, frames=2, max_offset=1)) == len(num_frames)


def test_nt_xent_chance_level_and_perfect_pairs():
    n, d = 5, 8
    same = torch.ones(n, d)
    # every view identical: all 2N - 1 candidates score the same, so the loss is log(2N - 1)
    assert nt_xent(same, same, 0.1).item() == pytest.approx(math.log(2 * n - 1), abs=1e-5)
    basis = torch.eye(d)[:n]  # orthogonal pairs, each positive identical to its anchor
    perfect = nt_xent(basis, basis, 0.1).item()
    assert perfect < 1e-3
    swapped = nt_xent(basis, basis.roll(1, 0), 0.1).item()  # each positive is another pair's view
    assert swapped > math.log(2 * n - 1)
    # invariant to the embeddings' scale (they are normalised) and symmetric in the two views
    assert nt_xent(3 * basis, basis, 0.1).item() == pytest.approx(perfect, abs=1e-6)
    a, b = torch.randn(n, d, generator=torch.Generator().manual_seed(0)), torch.randn(n, d)
    assert nt_xent(a, b, 0.5).item() == pytest.approx(nt_xent(b, a, 0.5).item(), rel=1e-6)


def _corpus(tmp_path: Path, videos: int = 6) -> tuple[Path, Path]:
    """Videos of a square moving across a plain background, a manifest and a frame store."""
    rng = np.random.default_rng(0)
    manifest = tmp_path / "train.tsv"
    lines = ["id\tvideo\tnum_frames\tsigner\ttext\tglosses\tsegments"]
    with FrameStoreWriter(tmp_path / "train.h5", stride=1, size=16, storage="raw") as w:
        for i in range(videos):
            n = int(rng.integers(6, 12))
            frames = np.full((n, 16, 16, 3), 40, np.uint8)
            for t in range(n):
                x = (i + t) % 12
                frames[t, 4:8, x:x + 4] = (220, 60, 60)
            w.add(f"v{i}", frames)
            lines.append(f"v{i}\tv{i}.mp4\t{n}\tS1\tsatz {i} .\t\t")
    manifest.write_text("\n".join(lines) + "\n")
    return manifest, tmp_path / "train.h5"


def _run(tmp_path, out, **settings):
    manifest, store = _corpus(tmp_path)
    spatial = {"config": RESNET, "image_size": 16, "pooling": "mean"}
    return pretrain_spatial(manifest, [store], out, spatial=spatial,
                            settings={**SETTINGS, "epochs": 2, "videos": 3, "frames": 4, **settings}, threads=1)


def test_writes_a_backbone_stage_one_loads_and_is_deterministic(tmp_path):
    stats = _run(tmp_path, tmp_path / "a")
    _run(tmp_path, tmp_path / "b")
    assert len(stats["loss_per_epoch"]) == 2 and all(math.isfinite(x) for x in stats["loss_per_epoch"])
    assert read_json(tmp_path / "a" / STATS_FILE)["backbone"] == "ResNetModel"
    events = read_scalars(tmp_path / "a" / "tensorboard")
    assert [v for _, v in events["train/loss"]] == pytest.approx(stats["loss_per_epoch"])
    assert [s for s, _ in events["throughput/train_frames_per_s"]] == [1, 2]
    a, b = build_backbone(str(tmp_path / "a")), build_backbone(str(tmp_path / "b"))
    assert isinstance(a, ResNetModel)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name  # same seed, same weights
    torch.manual_seed(0)
    fresh = build_backbone(None, RESNET)
    initial = dict(fresh.named_parameters())  # trainable parameters only: BatchNorm statistics alone do not count
    unchanged = [n for n, x in a.named_parameters() if torch.equal(x, initial[n])]
    assert not unchanged, f"pretraining left these parameters at their initial values: {unchanged}"
    spatial = SpatialModel.from_config({"pretrained": str(tmp_path / "a"), "image_size": 16, "pooling": "mean",
                                        "tune": "full", "chunk_size": None, "checkpointing": False}, out_dim=4)
    x, mask = spatial.eval()(torch.randn(5, 3, 16, 16), [3, 2])
    assert x.shape == (2, 3, 4) and mask.sum() == 5


def test_the_contrastive_loss_falls(tmp_path):
    stats = _run(tmp_path, tmp_path / "c", epochs=6)
    losses = stats["loss_per_epoch"]
    assert len(losses) == 6 and losses[-1] < 0.9 * losses[0], losses


def test_bad_settings_and_missing_videos_are_named(tmp_path):
    with pytest.raises(ConfigError, match="spatial.pretrain.max_offset"):
        _run(tmp_path, tmp_path / "out", max_offset=0)
    manifest, store = _corpus(tmp_path)
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['temperature'\]"):  # no default of its own
        pretrain_spatial(manifest, [store], tmp_path / "out", spatial={"config": RESNET, "image_size": 16},
                         settings={k: v for k, v in SETTINGS.items() if k != "temperature"}, threads=1)
    manifest, store = _corpus(tmp_path)
    text = manifest.read_text().replace("v5\tv5.mp4", "ghost\tghost.mp4")
    manifest.write_text(text)
    with pytest.raises(DataError, match="ghost"):
        pretrain_spatial(manifest, [store], tmp_path / "out", spatial={"config": RESNET, "image_size": 16},
                         settings={**SETTINGS, "epochs": 1}, threads=1)
    assert not (tmp_path / "out").exists()
