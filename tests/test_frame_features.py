"""The frozen backbone's frame-feature cache (sign2gpt.data.frame_features): the model reading it gives
the same output and loss as the model reading the frames, on the same sampled clips; a cache made by
another backbone is refused; a frozen ResNet keeps its BatchNorm statistics; and the workflow reads the
cache exactly for the experiments that freeze a pretrained backbone without augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sign2gpt.core.ablation import caches_frame_features
from sign2gpt.core.config import deep_merge, load_config
from sign2gpt.core.errors import DataError
from sign2gpt.data.dataset import SignDataset, batch_frames, collate
from sign2gpt.data.frame_features import FrameFeatureStore, open_frames, write_frame_features
from sign2gpt.data.frame_store import FrameStore, FrameStoreWriter
from sign2gpt.data.manifest import Sample
from sign2gpt.models.sign_model import build_sign_model

SPATIAL = {"pretrained": None, "tune": "frozen", "lora": None, "image_size": 16, "pooling": "mean", "chunk_size": None,
           "checkpointing": False,
           "config": {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1],
                      "layer_type": "basic", "downsample_in_first_stage": False}}
ENCODER = {"dim": 16, "heads": 2, "layers": [1, 1], "window": 3, "mlp_ratio": 2, "dropout": 0.0, "drop_path": 0.0,
           "layerscale_init": 1.0e-5, "pool_mask": "center", "zero_pad_before_pool": True, "attention": "local",
           "checkpointing": False}


def samples(n: int = 6) -> list[Sample]:
    return [Sample(id=f"v{i}", video=f"v{i}.mp4", num_frames=0, signer="S1", text=f"satz {i}", glosses=[],
                   segments=[]) for i in range(n)]


@pytest.fixture()
def stores(tmp_path):
    """A frame store of 6 short random videos and the frozen backbone's feature cache of it."""
    rng = np.random.default_rng(0)
    with FrameStoreWriter(tmp_path / "frames.h5", stride=1, size=24, storage="raw") as w:
        for s in samples():
            w.add(s.id, rng.integers(0, 256, (int(rng.integers(5, 14)), 24, 24, 3), dtype=np.uint8))
    torch.manual_seed(0)
    model = build_sign_model(SPATIAL, ENCODER)
    write_frame_features(tmp_path / "features.h5", [tmp_path / "frames.h5"], model.spatial, image_size=16)
    return tmp_path / "frames.h5", tmp_path / "features.h5", model


def first_batch(store, *, train: bool) -> dict:
    ds = SignDataset(store.held(samples()), store, train=train, image_size=16, stride=2, max_frames=5, seed=3,
                     augment_cfg=False)
    return collate([ds[i] for i in range(len(ds))])


def test_the_cache_gives_the_frame_paths_output_and_loss(stores):
    frames, features, model = stores
    model.train()  # training mode: the sign encoder's dropout is 0, the projection's BatchNorm uses the batch
    assert not model.spatial.backbone.training  # frozen: the backbone stays a fixed function
    frame_store, feature_store = FrameStore([frames]), open_frames([features])
    assert isinstance(feature_store, FrameFeatureStore) and feature_store.meta == frame_store.meta
    feature_store.check(model.spatial, 16)
    for train in (True, False):  # the same sampled frames (train: random offsets) in both
        a, b = first_batch(frame_store, train=train), first_batch(feature_store, train=train)
        assert a["lengths"] == b["lengths"] and a["ids"] == b["ids"]
        x = batch_frames(b, "cpu")
        assert x.shape == (sum(b["lengths"]), model.spatial.hidden_size)
        za, ma = model(batch_frames(a, "cpu"), a["lengths"])
        zb, mb = model(x, b["lengths"])
        assert torch.equal(ma, mb)
        torch.testing.assert_close(zb, za, rtol=1e-5, atol=1e-5)
        loss_a, loss_b = za.square().mean(), zb.square().mean()
        torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)


def test_a_cache_of_another_backbone_or_size_is_refused(stores):
    _, features, model = stores
    store = FrameFeatureStore([features])
    with pytest.raises(DataError, match="stale frame-feature cache: image_size"):
        store.check(model.spatial, 32)
    with torch.no_grad():
        next(model.spatial.backbone.parameters()).add_(0.01)
    with pytest.raises(DataError, match="stale frame-feature cache: backbone_sha256"):
        store.check(model.spatial, 16)


def test_only_a_frozen_backbone_reads_features(stores):
    _, features, _ = stores
    torch.manual_seed(0)
    tuned = build_sign_model({**SPATIAL, "tune": "full"}, ENCODER)
    with pytest.raises(ValueError, match="need a frozen backbone"):
        tuned(torch.zeros(4, tuned.spatial.hidden_size), [4])
    with pytest.raises(DataError, match="needs a frozen backbone"):
        write_frame_features(features.parent / "x.h5", [features.parent / "frames.h5"], tuned.spatial, image_size=16)


def test_a_frozen_resnet_keeps_its_batchnorm_statistics():
    torch.manual_seed(0)
    model = build_sign_model(SPATIAL, ENCODER).train()
    before = {k: v.clone() for k, v in model.spatial.backbone.state_dict().items()}
    model(torch.rand(6, 3, 16, 16), [6])
    after = model.spatial.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    full = build_sign_model({**SPATIAL, "tune": "full"}, ENCODER).train()
    assert full.spatial.backbone.training  # a tuned backbone trains as before


def test_which_experiments_read_the_cache():
    config = load_config()  # the default: a tuned backbone, no augmentation
    assert not caches_frame_features(config)
    frozen = deep_merge(config, {"spatial": {"tune": "frozen"}})
    assert caches_frame_features(frozen)
    assert not caches_frame_features(deep_merge(frozen, {"frames": {"augment": True}}))  # new pixels each epoch
    assert not caches_frame_features(deep_merge(frozen, {"spatial": {"pretrain": None}}))  # random, seed-dependent
