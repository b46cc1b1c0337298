"""SignDataset, collate, multi_hot and make_loader (spec §2.4) against an in-memory frame store."""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from sign2gpt.core.errors import DataError
from sign2gpt.data.augment import augment_clip
from sign2gpt.data.dataset import SignDataset, batch_frames, collate, item_frames, make_loader, multi_hot


@dataclass
class Sample:  # the manifest contract's fields
    id: str
    video: str
    num_frames: int
    signer: str
    text: str
    glosses: list = field(default_factory=list)
    segments: list = field(default_factory=list)


class FakeStore:
    """Same API as FrameStore: num_frames(id), read(id, indices), meta."""

    def __init__(self, clips: dict[str, np.ndarray], stride: int = 1):
        self.clips = clips
        self.meta = {"stride": stride, "size": 16, "storage": "raw"}
        self.reads: list[tuple[str, list[int]]] = []

    def num_frames(self, id: str) -> int:
        return len(self.clips[id])

    def read(self, id: str, indices=None) -> np.ndarray:
        clip = self.clips[id]
        if indices is None:
            return clip
        self.reads.append((id, list(map(int, indices))))
        return clip[np.asarray(indices)]


def make_data(n_items=6, seed=0, size=16):
    rng = np.random.default_rng(seed)
    clips, samples = {}, []
    for i in range(n_items):
        n = int(rng.integers(3, 30))
        vid = f"v{i}"
        clips[vid] = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
        samples.append(Sample(vid, f"/videos/{vid}.mp4", n, "s1", f"satz {i} heute regen", ["REGEN"], [(0, n)]))
    return samples, FakeStore(clips)


def test_item_fields_shapes_and_targets():
    samples, store = make_data()
    ds = SignDataset(samples, store, train=False, image_size=12, stride=2, targets_fn=lambda s: [len(s) % 5, 1])
    item = ds[2]
    n = store.num_frames("v2")
    assert item["id"] == "v2" and item["text"] == samples[2].text
    assert item["pixels"].dtype == torch.uint8 and item["pixels"].shape == ((n + 1) // 2, 16, 16, 3)
    assert item_frames(item).shape == ((n + 1) // 2, 3, 12, 12) and item_frames(item).dtype == torch.float32
    assert item["targets"] == [len(samples[2].text) % 5, 1]
    assert SignDataset(samples, store, train=False, image_size=12)[0]["targets"] == []


def test_store_stride_is_respected_and_max_frames_caps():
    samples, store = make_data()
    store.meta["stride"] = 2  # frames already strided at decode: sample every stored frame
    ds = SignDataset(samples, store, train=False, image_size=8, stride=2)
    assert ds[0]["pixels"].shape[0] == store.num_frames("v0")
    capped = SignDataset(samples, store, train=True, image_size=8, stride=2, max_frames=2, seed=1)
    assert all(capped[i]["pixels"].shape[0] <= 2 for i in range(len(samples)))


def test_items_depend_on_seed_epoch_index_only():
    samples, store = make_data()
    a = SignDataset(samples, store, train=True, image_size=12, seed=3)
    b = SignDataset(samples, store, train=True, image_size=12, seed=3)
    x = [item_frames(a[i]) for i in range(len(a))]
    assert all(torch.equal(x[i], item_frames(b[i])) for i in reversed(range(len(b))))  # order does not matter
    a.set_epoch(1)
    y = [item_frames(a[i]) for i in range(len(a))]
    assert any(x[i].shape != y[i].shape or not torch.equal(x[i], y[i]) for i in range(len(a)))
    assert all(torch.equal(y[i], item_frames(b[1, i])) for i in range(len(b)))  # (epoch, index) keys
    a.set_epoch(0)
    assert torch.equal(item_frames(a[4]), x[4])


def test_items_are_the_transform_of_the_sampled_frames_with_the_same_draws():
    """The worker's uint8 pixels + params, transformed later, equal the float path of one call:
    sample_indices then augment_clip from the same Generator (the transform before the split)."""
    from sign2gpt.data.augment import AugmentConfig
    from sign2gpt.data.sampling import sample_indices

    samples, store = make_data()
    cfg = AugmentConfig(rotate_p=1.0, jitter_p=1.0, grey_p=0.5)
    for train in (True, False):
        ds = SignDataset(samples, store, train=train, image_size=12, stride=2, max_frames=9, augment_cfg=cfg, seed=4)
        ds.set_epoch(3)
        for i, sample in enumerate(samples):
            rng = np.random.default_rng([4, 3, i])
            idx = sample_indices(store.num_frames(sample.id), train=train, rng=rng, stride=2, max_frames=9)
            expected = augment_clip(store.clips[sample.id][idx], 12, train=train, rng=rng, cfg=cfg)
            assert torch.equal(item_frames(ds[i]), expected), (train, sample.id)


def test_loader_results_do_not_depend_on_worker_count_or_where_the_float_work_runs():
    """0 or 2 workers; float work in the workers (CPU training) or after the loader, from the
    uint8 batch (`device` an accelerator: here run on the CPU by `batch_frames`)."""
    samples, store = make_data(8)
    ds = SignDataset(samples, store, train=True, image_size=8, seed=5)
    batches = {}
    for workers, device in ((0, "cpu"), (2, "cpu"), (2, "meta")):
        ds.set_epoch(2)
        loader = make_loader(ds, 3, train=True, num_workers=workers, seed=9, device=device, pin_memory=False)
        loader.sampler.set_epoch(2)
        batches[workers, device] = list(loader)
    reference = batches[0, "cpu"]
    assert len(reference) == 2  # 8 items, batch 3, drop_last
    assert all("frames" in b and "pixels" not in b for b in reference)
    for other in (batches[2, "cpu"], batches[2, "meta"]):
        assert len(other) == len(reference)
        for b0, b in zip(reference, other):
            assert b0["ids"] == b["ids"] and b0["lengths"] == b["lengths"]
            assert torch.equal(b0["frames"], batch_frames(b, "cpu"))
    uint8 = batches[2, "meta"][0]
    assert "frames" not in uint8 and all(p.dtype == torch.uint8 for p in uint8["pixels"])


def test_persistent_workers_follow_the_epoch_and_resume_exactly():
    """Workers live across epochs (one pool per loader) and still draw each epoch's stream; a
    loader made afresh at epoch e (a resumed run) gives exactly the batches of the long-lived one."""
    samples, store = make_data(8)

    def loader():
        ds = SignDataset(samples, store, train=True, image_size=8, seed=5)
        return make_loader(ds, 4, train=True, num_workers=2, seed=9, device="cuda", pin_memory=False)

    long_lived = loader()
    assert long_lived.persistent_workers
    epochs = []
    for epoch in range(3):
        long_lived.sampler.set_epoch(epoch)  # what the Trainer does; the workers' dataset copies are not told
        epochs.append(list(long_lived))
    workers = long_lived._iterator._workers
    assert len(workers) == 2 and all(w.is_alive() for w in workers)  # the same pool served all three epochs
    frames = [[batch_frames(b, "cpu") for b in batches] for batches in epochs]
    direct = SignDataset(samples, store, train=True, image_size=8, seed=5)
    position = {s.id: i for i, s in enumerate(samples)}
    for epoch, batches in enumerate(epochs):  # every item drawn from its epoch's stream
        for b, f in zip(batches, frames[epoch]):
            expected = [item_frames(direct[epoch, position[vid]]) for vid in b["ids"]]
            assert torch.equal(f, torch.cat(expected)), epoch
    resumed = loader()
    resumed.sampler.set_epoch(2)
    for b, f in zip(list(resumed), frames[2]):
        assert torch.equal(batch_frames(b, "cpu"), f)


def test_collate_concatenates_and_keeps_lists():
    samples, store = make_data()
    ds = SignDataset(samples, store, train=False, image_size=8, targets_fn=lambda s: [0, 2])
    batch = collate([ds[0], ds[3], ds[1]])
    lengths = [ds[i]["pixels"].shape[0] for i in (0, 3, 1)]
    assert batch["ids"] == ["v0", "v3", "v1"]
    assert batch["texts"] == [samples[i].text for i in (0, 3, 1)]
    assert batch["lengths"] == lengths
    assert [p.shape[0] for p in batch["pixels"]] == lengths and batch["size"] == 8
    frames = batch_frames(batch, "cpu")
    assert frames.shape == (sum(lengths), 3, 8, 8)
    assert torch.equal(frames.split(lengths)[1], item_frames(ds[3]))
    floats = collate([ds[0], ds[3], ds[1]], to_float=True)
    assert "pixels" not in floats and torch.equal(floats["frames"], frames)
    assert batch["targets"] == [[0, 2]] * 3
    with pytest.raises(ValueError):
        collate([])


def test_multi_hot():
    m = multi_hot([[0, 2, 2], [], [3]], 4)
    assert m.dtype == torch.float32
    assert m.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    with pytest.raises(ValueError, match="item 1"):
        multi_hot([[0], [4]], 4)


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def order(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return [int(i) for b in loader for i in b]


def test_make_loader_train_and_eval_policies():
    train = make_loader(Range(10), 4, train=True, seed=1, collate_fn=torch.tensor)
    first = order(train, 0)
    assert len(first) == 8 and len(set(first)) == 8  # shuffled, last partial batch dropped
    assert first != sorted(first) or order(train, 1) != sorted(order(train, 1))
    assert order(train, 0) == first  # the order depends only on (seed, epoch)
    assert order(make_loader(Range(10), 4, train=True, seed=1, collate_fn=torch.tensor), 0) == first
    assert order(train, 1) != first
    small = make_loader(Range(3), 4, train=True, collate_fn=torch.tensor)  # smaller than a batch: keep it
    assert sorted(order(small, 0)) == [0, 1, 2]
    dev = make_loader(Range(10), 4, train=False, collate_fn=torch.tensor)
    assert order(dev, 0) == list(range(10))


def test_bad_store_output_names_the_item():
    samples, store = make_data(2)

    class Short(FakeStore):
        def read(self, id, indices=None):
            return super().read(id, indices)[:1]

    ds = SignDataset(samples, Short(store.clips), train=False, image_size=8)
    with pytest.raises(DataError, match="v0"):
        ds[0]

    class Floats(FakeStore):
        def read(self, id, indices=None):
            return super().read(id, indices).astype(np.float32)

    with pytest.raises(DataError, match="uint8"):
        SignDataset(samples, Floats(store.clips), train=False, image_size=8)[1]
