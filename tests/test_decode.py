"""Video decoding, the HDF5 frame store and the decode stage, on tiny videos made here.

Every frame t of a test video is a solid colour that encodes t, so a test can tell which source
frame it got back (lossy codecs keep a solid colour within a few levels).
"""

from pathlib import Path

import h5py
import media
import numpy as np
import pytest
import torch
from PIL import Image

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.data.decode import decode_shard, skipped_path
from sign2gpt.data.frame_store import FrameStore, FrameStoreWriter
from sign2gpt.data.manifest import Sample, write_manifest
from sign2gpt.data.video import _read_video_pyav, count_frames, list_frame_files, read_frames


def colour(t: int) -> tuple[int, int, int]:
    return (10 + 12 * t) % 256, (240 - 9 * t) % 256, 128


def frame_index(frame: np.ndarray) -> int:
    """The t whose colour is closest to a decoded frame's mean colour."""
    mean = frame.reshape(-1, 3).mean(0)
    return int(np.argmin([np.abs(mean - colour(t)).sum() for t in range(20)]))


def make_video(path: Path, n: int, size: int = 32, codec: str = "libx264") -> Path:
    return media.make_video(path, n, size, codec, colour=colour)


def make_folder(path: Path, n: int, ext: str = "png", size: tuple[int, int] = (26, 20)) -> Path:
    path.mkdir(parents=True)
    for t in range(n):  # unpadded names: natural order differs from string order
        Image.new("RGB", size, colour(t)).save(path / f"images{t + 1}.{ext}", quality=95)
    return path


def patterned(t: int, size: int = 16) -> np.ndarray:
    """A frame of 4x4-pixel random blocks: distinct per t, and smooth enough for JPEG."""
    rng = np.random.default_rng(t)
    blocks = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)


# --- video.py ---------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_read_video_stride_and_size(tmp_path: Path, codec: str):
    video = make_video(tmp_path / "v.mp4", 11, codec=codec)
    assert count_frames(video) == 11
    frames = read_frames(video)
    assert frames.shape == (11, 32, 32, 3) and frames.dtype == np.uint8
    assert [frame_index(f) for f in frames] == list(range(11))
    frames = read_frames(video, stride=3, size=40)  # resized by decord
    assert frames.shape == (4, 40, 40, 3)
    assert [frame_index(f) for f in frames] == [0, 3, 6, 9]
    frames16 = read_frames(video, stride=3, size=16)  # a width decord mis-copies: PyAV decodes it
    assert frames16.shape == (4, 16, 16, 3)
    assert [frame_index(f) for f in frames16] == [0, 3, 6, 9]
    # The fallback resizes like decord does (same FFmpeg scaler and filter).
    np.testing.assert_allclose(np.stack(_read_video_pyav(video, 3, 40)[0]).astype(float), frames, atol=3)


def test_read_one_frame_video(tmp_path: Path):
    video = make_video(tmp_path / "one.mp4", 1)
    assert count_frames(video) == 1
    frames = read_frames(video, stride=2, size=8)
    assert frames.shape == (1, 8, 8, 3)
    assert frame_index(frames[0]) == 0


def test_read_folder_in_natural_order(tmp_path: Path):
    folder = make_folder(tmp_path / "f", 12)
    (folder / ".hidden.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_frame_files(folder)][:3] == ["images1.png", "images2.png", "images3.png"]
    assert count_frames(folder) == 12
    frames = read_frames(folder)
    assert frames.shape == (12, 20, 26, 3)  # H, W of a 26x20 (W x H) image
    assert [frame_index(f) for f in frames] == list(range(12))
    frames = read_frames(folder, stride=5, size=16)
    assert frames.shape == (3, 16, 16, 3)
    assert [frame_index(f) for f in frames] == [0, 5, 10]


def test_read_jpeg_folder_downscaled(tmp_path: Path):
    folder = make_folder(tmp_path / "j", 3, ext="jpg", size=(64, 64))
    frames = read_frames(folder, size=16)
    assert frames.shape == (3, 16, 16, 3)
    assert [frame_index(f) for f in frames] == [0, 1, 2]


def _noisy(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 64, (h, w, 3)) + np.linspace(0, 180, w)[None, :, None]).astype(np.uint8)


@pytest.mark.parametrize("shape,size", [((512, 512), 256), ((512, 512), 200), ((260, 210), 256), ((480, 640), 256),
                                        ((512, 512), 64), ((131, 97), 32), ((64, 64), None)])
def test_jpeg_folder_frames_are_the_pixels_of_pils_draft_decode(tmp_path: Path, shape, size):
    """simplejpeg's reduced decode picks the scale PIL's draft picks and gives the same pixels."""
    import simplejpeg

    from sign2gpt.data.jpeg import TURBO_COLOURSPACES

    folder = tmp_path / "f"
    folder.mkdir()
    for t in range(2):
        Image.fromarray(_noisy(*shape, t)).save(folder / f"{t}.jpg", quality=95)
    Image.fromarray(_noisy(*shape, 2)).convert("L").save(folder / "2.jpg", quality=95)  # a greyscale JPEG too
    expected = []
    for f in list_frame_files(folder):
        assert simplejpeg.decode_jpeg_header(f.read_bytes())[2] in TURBO_COLOURSPACES  # the libjpeg-turbo path
        with Image.open(f) as im:
            if size is not None:
                im.draft("RGB", (size, size))
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            expected.append(np.asarray(im))
    assert np.array_equal(read_frames(folder, size=size), np.stack(expected))


def test_store_jpeg_frames_decode_as_pil_decodes_them(tmp_path: Path):
    from sign2gpt.data.jpeg import decode_jpeg, encode_jpeg

    frames = np.stack([_noisy(40, 56, t) for t in range(3)])
    with FrameStoreWriter(tmp_path / "s.h5", stride=1, size=None, storage="jpeg", jpeg_quality=90) as w:
        w.add("v", frames)
    stored = FrameStore(tmp_path / "s.h5").read("v")
    for t in range(3):
        data = encode_jpeg(frames[t], 90)
        with Image.open(__import__("io").BytesIO(data.tobytes())) as im:
            assert np.array_equal(stored[t], np.asarray(im.convert("RGB")))
        assert np.array_equal(decode_jpeg(data), stored[t])
        pil = __import__("io").BytesIO()
        Image.fromarray(frames[t]).save(pil, format="JPEG", quality=90)
        with Image.open(pil) as im:  # no worse than PIL's own encoder at the same quality
            pil_error = np.abs(np.asarray(im.convert("RGB")).astype(int) - frames[t]).mean()
        assert np.abs(stored[t].astype(int) - frames[t]).mean() <= 1.05 * pil_error
    cmyk = __import__("io").BytesIO()
    # PIL decodes it (simplejpeg converts CMYK differently)
    Image.fromarray(frames[0]).convert("CMYK").save(cmyk, format="JPEG", quality=90)
    with Image.open(cmyk) as im:
        assert np.array_equal(decode_jpeg(np.frombuffer(cmyk.getvalue(), np.uint8)), np.asarray(im.convert("RGB")))


def test_bad_inputs_name_the_path(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    data = make_video(tmp_path / "full.mp4", 12).read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])
    bad_frame = make_folder(tmp_path / "badframe", 2)
    (bad_frame / "images3.png").write_bytes(b"this is not a png")
    cases = {
        "empty": "no image files",
        "zero.mp4": "empty (0 bytes)",
        "junk.mp4": "cannot open video",
        "trunc.mp4": "cannot",
        "missing.mp4": "not found",
        "badframe": "cannot decode frame images3.png",
    }
    for name, needle in cases.items():
        with pytest.raises(DataError) as err:
            read_frames(tmp_path / name)
        assert name in str(err.value) and needle in str(err.value), str(err.value)


# --- frame_store.py ---------------------------------------------------------------------------


@pytest.mark.parametrize("storage, compression", [("raw", "lzf"), ("raw", "gzip1"), ("jpeg", None)])
def test_store_random_access(tmp_path: Path, storage: str, compression):
    videos = {"a/b c": np.stack([patterned(t) for t in range(9)]),
              "ü:1": np.stack([patterned(100 + t) for t in range(4)])}
    with FrameStoreWriter(tmp_path / "s.h5", stride=2, size=16, storage=storage, jpeg_quality=95,
                          compression=compression) as w:
        for vid, frames in videos.items():
            w.add(vid, frames, source_num_frames=2 * len(frames) - 1)
    with FrameStore(tmp_path / "s.h5") as store:
        assert store.ids == ["a/b c", "ü:1"]
        assert store.num_frames("a/b c") == 9 and store.source_num_frames("ü:1") == 7
        assert store.meta["stride"] == 2 and store.meta["size"] == 16 and store.meta["storage"] == storage
        frames = videos["a/b c"]
        for indices in ([3, 4, 5, 6], [0, 2, 4, 6, 8], [7, 1, 1, 5], [8], None):
            got = store.read("a/b c", indices)
            want = list(range(9)) if indices is None else indices
            assert got.shape == (len(want), 16, 16, 3) and got.dtype == np.uint8
            if storage == "raw":
                np.testing.assert_array_equal(got, frames[want])
            else:  # lossy: each frame is still much closer to its source than to any other
                dist = np.abs(got[:, None].astype(int) - frames[None]).mean(axis=(2, 3, 4))  # [T, 9]
                assert dist.argmin(1).tolist() == want
                assert dist.min(1).max() < 20 < np.sort(dist, 1)[:, 1].min()
        with pytest.raises(IndexError, match="a/b c"):
            store.read("a/b c", [9])
        with pytest.raises(KeyError, match="nope"):
            store.num_frames("nope")


def _write_store(path: Path, ids: list[str], **kw) -> None:
    with FrameStoreWriter(path, stride=1, size=16, storage="raw", **kw) as w:
        for i, vid in enumerate(ids):
            w.add(vid, np.stack([patterned(10 * i + t) for t in range(3)]))


def test_store_shards_and_workers(tmp_path: Path):
    _write_store(tmp_path / "0.h5", ["a", "b"])
    _write_store(tmp_path / "1.h5", ["c"])
    store = FrameStore([tmp_path / "0.h5", tmp_path / "1.h5"])
    assert sorted(store.ids) == ["a", "b", "c"] and len(store) == 3
    np.testing.assert_array_equal(store.read("c", [2]), patterned(2)[None])
    # A store with open handles goes to DataLoader workers (fork or spawn) and reads there.
    loader = torch.utils.data.DataLoader(["a", "b", "c"], batch_size=None, num_workers=2,
                                         collate_fn=lambda v: store.read(v, [1]))
    got = {int(x.sum()) for x in loader}
    assert got == {int(patterned(t).sum()) for t in (1, 11, 1)}
    _write_store(tmp_path / "2.h5", ["a"])
    with pytest.raises(DataError, match="'a' is also in"):
        FrameStore([tmp_path / "0.h5", tmp_path / "2.h5"])
    _write_store(tmp_path / "3.h5", ["d"], compression="gzip1")
    with pytest.raises(DataError, match="decode settings"):
        FrameStore([tmp_path / "0.h5", tmp_path / "3.h5"])


def test_writer_is_atomic(tmp_path: Path):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with FrameStoreWriter(path, stride=1, size=16, storage="jpeg") as w:
            w.add("a", patterned(0)[None])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the store nor a temporary file
    with pytest.raises(DataError, match="frames must be uint8"):
        with FrameStoreWriter(path, stride=1, size=16, storage="raw") as w:
            w.add("a", np.zeros((0, 16, 16, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_reader_refuses_incomplete_or_foreign_files(tmp_path: Path):
    _write_store(tmp_path / "ok.h5", ["a"])
    with h5py.File(tmp_path / "ok.h5", "a") as f:
        del f.attrs["complete"]  # as if the writer had died before its last step
    with pytest.raises(DataError, match="incomplete frame store"):
        FrameStore(tmp_path / "ok.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(DataError, match="not a sign2gpt frame store"):
        FrameStore(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        FrameStore(tmp_path / "text.h5")


# --- decode.py --------------------------------------------------------------------------------


def _manifest(tmp_path: Path) -> Path:
    samples = [
        Sample("v0", str(make_video(tmp_path / "v0.mp4", 9)), 9, "s1", "eins"),
        Sample("f1", str(make_folder(tmp_path / "f1", 5)), 5, "s2", "zwei"),
        Sample("v2", str(make_video(tmp_path / "v2.mp4", 1)), 1, "s1", "drei"),
        Sample("bad3", str(tmp_path / "gone.mp4"), 4, "s1", "vier"),
    ]
    write_manifest(tmp_path / "m.tsv", samples)
    return tmp_path / "m.tsv"


def test_decode_shards(tmp_path: Path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "frames"
    with pytest.raises(DataError, match="'bad3'.*not found"):
        decode_shard(manifest, out / "shard1.h5", shard=1, num_shards=2, stride=2, size=16, storage="jpeg")
    assert not (out / "shard1.h5").exists()
    for shard in (0, 1):
        decode_shard(manifest, out / f"shard{shard}.h5", shard=shard, num_shards=2, stride=2, size=16,
                     storage="jpeg", skip_bad_items=True)
    store = FrameStore([out / "shard0.h5", out / "shard1.h5"])
    assert FrameStore(out / "shard0.h5").ids == ["v0", "v2"] and FrameStore(out / "shard1.h5").ids == ["f1"]
    assert store.meta == {"stride": 2, "size": 16, "storage": "jpeg", "jpeg_quality": 90, "compression": "none"}
    assert store.num_frames("v0") == 5 and store.source_num_frames("v0") == 9
    assert [frame_index(f) for f in store.read("v0")] == [0, 2, 4, 6, 8]
    assert [frame_index(f) for f in store.read("f1", [2, 0])] == [4, 0]
    assert store.read("v2").shape == (1, 16, 16, 3)
    skipped = skipped_path(out / "shard1.h5").read_text().splitlines()
    assert skipped[0] == "id\tvideo\treason" and skipped[1].startswith("bad3\t") and "not found" in skipped[1]
    assert skipped_path(out / "shard0.h5").read_text().splitlines() == ["id\tvideo\treason"]


def test_decode_empty_shard_and_bad_config(tmp_path: Path):
    manifest = _manifest(tmp_path)
    decode_shard(manifest, tmp_path / "s9.h5", shard=9, num_shards=10, stride=1, size=16, storage="raw")
    store = FrameStore(tmp_path / "s9.h5")
    assert store.ids == [] and store.meta["storage"] == "raw" and store.meta["compression"] == "none"
    with pytest.raises(ConfigError, match="shard 2"):
        decode_shard(manifest, tmp_path / "x.h5", shard=2, num_shards=2, stride=1, size=16, storage="raw")
    with pytest.raises(ConfigError, match="storage"):
        decode_shard(manifest, tmp_path / "x.h5", shard=0, num_shards=1, stride=1, size=16, storage="png")


@pytest.mark.parametrize("indices", [[39, 0, 2, 2], [5, 1, 3, 3], [12, 10, 11]])
def test_scattered_reads_equal_numpy_indexing(tmp_path: Path, indices):
    """Both ways of reading a scattered selection (the covering slice for a dense one, h5py's
    point selection for a sparse one) return the frames asked for, in order, repeats kept."""
    frames = np.stack([patterned(t) for t in range(40)])
    with FrameStoreWriter(tmp_path / "s.h5", stride=1, size=16, storage="raw") as w:
        w.add("v", frames)
    with FrameStore(tmp_path / "s.h5") as store:
        np.testing.assert_array_equal(store.read("v", indices), frames[indices])


@pytest.mark.parametrize("storage", ["jpeg", "raw"])
def test_parallel_decode_writes_the_same_store(tmp_path: Path, storage: str):
    """decode.threads workers decode and encode side by side; the store is the same, in manifest order."""
    samples = [Sample(f"v{i}", str(make_video(tmp_path / f"v{i}.mp4", 3 + i)), 3 + i, "s1", "x") for i in range(7)]
    samples.insert(3, Sample("bad", str(tmp_path / "gone.mp4"), 4, "s1", "x"))
    samples.append(Sample("f", str(make_folder(tmp_path / "f", 4)), 4, "s2", "y"))
    write_manifest(tmp_path / "m.tsv", samples)
    stores = {}
    for threads in (1, 3):
        out = tmp_path / f"t{threads}.h5"
        decode_shard(tmp_path / "m.tsv", out, shard=0, num_shards=1, stride=1, size=16, storage=storage,
                     skip_bad_items=True, threads=threads)
        stores[threads] = FrameStore(out)
        assert skipped_path(out).read_text().splitlines()[1].startswith("bad\t")
    one, three = stores[1], stores[3]
    assert one.ids == three.ids == [s.id for s in samples if s.id != "bad"]
    for vid in one.ids:
        assert np.array_equal(one.read(vid), three.read(vid)), vid
    with pytest.raises(DataError, match="'bad'"):  # without skipping, the bad item stops the shard
        decode_shard(tmp_path / "m.tsv", tmp_path / "x.h5", shard=0, num_shards=1, stride=1, size=16,
                     storage=storage, threads=3)
    assert not (tmp_path / "x.h5").exists()


def test_a_frame_store_written_before_repairs_were_counted_still_reads(tmp_path):
    """Stores decoded before `repaired_frames` and `left_out` existed: none repaired, none left out."""
    path = tmp_path / "old.h5"
    with FrameStoreWriter(path, stride=1, size=4, storage="raw") as w:
        w.add("a", np.zeros((2, 4, 4, 3), np.uint8), repaired=1)
    with h5py.File(path, "a") as f:
        del f["repaired_frames"], f["left_out"]
    with FrameStore(path) as store:
        assert store.repaired_frames("a") == 0 and store.left_out == {} and store.num_frames("a") == 2
        assert [s.id for s in store.held([Sample("a", "/v", 2)])] == ["a"]
