"""Stage 1's localization pass: scored against true segments when the corpus has them, and only
the example maps when it has none (PHOENIX-2014T, CSL-Daily)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from sign2gpt.data.manifest import Sample
from sign2gpt.training.pretrain import localization


class FakePretrainModel(nn.Module):
    """Returns a fixed E per video: pseudo-gloss k is on over frames [2k, 2k + 2)."""

    def forward(self, frames, lengths):
        b, steps, k = len(lengths), 8, 3
        E = torch.zeros(b, steps, k)
        for j in range(k):
            E[:, 2 * j: 2 * j + 2, j] = 1.0
        return None, E, torch.ones(b, steps, dtype=torch.bool)


class CountingLoader:
    def __init__(self, ids, batch_size=2):
        self.ids, self.batch_size, self.batches_read = ids, batch_size, 0

    def __iter__(self):
        for i in range(0, len(self.ids), self.batch_size):
            self.batches_read += 1
            chunk = self.ids[i:i + self.batch_size]
            yield {"frames": torch.zeros(len(chunk)), "lengths": [8] * len(chunk), "ids": chunk,
                   "targets": [[0, 1, 2]] * len(chunk)}


VOCAB = SimpleNamespace(vocab=["a", "b", "c"])


def samples(with_segments: bool) -> dict[str, Sample]:
    segs = [(0, 1), (2, 3), (4, 5)] if with_segments else []
    return {f"v{i}": Sample(f"v{i}", "x", 8, glosses=["A", "B", "C"] if with_segments else [], segments=segs)
            for i in range(10)}


def test_without_segments_only_the_example_maps_are_computed():
    loader = CountingLoader([f"v{i}" for i in range(10)])
    out = localization(FakePretrainModel(), loader, samples(False), VOCAB, 1.0, examples=3, device=torch.device("cpu"))
    assert out["scores"] is None and out["videos_scored"] == 0
    assert len(out["examples"]) == 3
    assert loader.batches_read == 2  # 3 examples at batch size 2, not all 5 batches


def test_without_segments_and_no_examples_nothing_is_run():
    loader = CountingLoader([f"v{i}" for i in range(10)])
    out = localization(FakePretrainModel(), loader, samples(False), VOCAB, 1.0, examples=0, device=torch.device("cpu"))
    assert loader.batches_read == 0 and out["examples"] == []


def test_with_segments_every_dev_video_is_scored():
    loader = CountingLoader([f"v{i}" for i in range(10)])
    out = localization(FakePretrainModel(), loader, samples(True), VOCAB, 1.0, examples=3, device=torch.device("cpu"))
    assert loader.batches_read == 5 and out["videos_scored"] == 10
    assert out["scores"] is not None and 0.0 <= out["scores"]["f1"] <= 1.0
