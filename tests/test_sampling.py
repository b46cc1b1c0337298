"""Frame sampling (spec §2.2): stride, random phase and trim, cap, short clips, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sign2gpt.data.sampling import effective_stride, sample_indices


def test_eval_takes_every_second_frame():
    assert sample_indices(10, train=False).tolist() == [0, 2, 4, 6, 8]
    assert sample_indices(9, train=False, stride=3).tolist() == [0, 3, 6]


def test_train_phase_and_trim_follow_the_official_ranges():
    n = 40
    starts, ends = set(), set()
    for seed in range(300):
        idx = sample_indices(n, train=True, rng=np.random.default_rng(seed))
        assert np.all(np.diff(idx) == 2)
        starts.add(int(idx[0]))
        ends.add(int(idx[-1]))
        assert idx[-1] < n
    assert starts == {0, 1, 2, 3}
    # end drawn from {N-4..N}: the last index is end-1 or end-2 rounded to the phase
    assert min(ends) >= n - 4 - 2 and max(ends) == n - 1


def test_train_is_deterministic_given_the_generator():
    a = sample_indices(100, train=True, rng=np.random.default_rng(7), max_frames=20)
    b = sample_indices(100, train=True, rng=np.random.default_rng(7), max_frames=20)
    c = sample_indices(100, train=True, rng=np.random.default_rng(8), max_frames=20)
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_short_clips_are_never_empty(n):
    for seed in range(50):
        idx = sample_indices(n, train=True, rng=np.random.default_rng(seed))
        assert idx.size >= 1 and idx.min() >= 0 and idx.max() < n
    assert sample_indices(n, train=False).size >= 1
    if n == 1:
        assert sample_indices(1, train=True, rng=np.random.default_rng(3)).tolist() == [0]


def test_cap_at_train_is_a_sorted_random_subset_of_the_strided_grid():
    idx = sample_indices(1000, train=True, rng=np.random.default_rng(0), max_frames=64)
    assert idx.size == 64
    assert np.all(np.diff(idx) > 0)
    assert len(set(np.diff(idx).tolist())) > 1  # not a plain stride: a random subset
    assert len({int(i) % 2 for i in idx}) == 1  # all on one phase of the stride-2 grid


def test_cap_at_eval_is_evenly_spaced_and_keeps_both_ends():
    idx = sample_indices(1000, train=False, max_frames=100)
    assert idx.size == 100
    assert idx[0] == 0 and idx[-1] == 998
    gaps = np.diff(idx)
    assert gaps.min() >= 2 and gaps.max() - gaps.min() <= 2


def test_store_stride_divides_the_sampling_stride():
    assert effective_stride(2, 1) == 2
    assert effective_stride(2, 2) == 1
    assert effective_stride(4, 2) == 2
    assert sample_indices(6, train=False, stride=2, store_stride=2).tolist() == [0, 1, 2, 3, 4, 5]
    for seed in range(30):  # trim of 4 source frames = 2 stored frames
        idx = sample_indices(20, train=True, rng=np.random.default_rng(seed), store_stride=2)
        assert idx[0] in (0, 1) and idx[-1] >= 20 - 2 - 1 and np.all(np.diff(idx) == 1)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        sample_indices(0, train=False)
    with pytest.raises(ValueError):
        sample_indices(10, train=True)  # no generator
    with pytest.raises(ValueError):
        sample_indices(10, train=False, max_frames=0)
    with pytest.raises(ValueError):
        effective_stride(0)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 600),
    train=st.booleans(),
    stride=st.integers(1, 4),
    cap=st.one_of(st.none(), st.integers(1, 80)),
    seed=st.integers(0, 2**32 - 1),
)
def test_invariants(n, train, stride, cap, seed):
    idx = sample_indices(n, train=train, rng=np.random.default_rng(seed), stride=stride, max_frames=cap)
    assert idx.dtype == np.int64
    assert 1 <= idx.size <= (cap or n)
    assert idx.min() >= 0 and idx.max() < n
    assert np.all(np.diff(idx) > 0)
