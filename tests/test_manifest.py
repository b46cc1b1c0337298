"""The manifest round-trips exactly, and every malformed file is refused naming file and line."""

from pathlib import Path

import pytest

from sign2gpt.core.errors import DataError
from sign2gpt.data.manifest import COLUMNS, Sample, read_manifest, spans, write_manifest

HEADER = "\t".join(COLUMNS)
OLD_HEADER = "\t".join(COLUMNS[:7])  # manifests written before bad_frames existed


def _samples() -> list[Sample]:
    return [
        Sample("a-1", "/data/videos/a-1.mp4", 20, "signer3", "morgen regnet es im süden", ["MORGEN", "REGEN"],
               [(0, 8), (8, 20)], [(3, 5), (19, 20)]),
        Sample("b|2 x", "/data/frames/b", 7, "", "今天天气很好", [], []),
    ]


def test_round_trip(tmp_path: Path):
    path = tmp_path / "m" / "train.tsv"
    write_manifest(path, _samples())
    assert read_manifest(path) == _samples()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    assert lines[1].split("\t") == ["a-1", "/data/videos/a-1.mp4", "20", "signer3", "morgen regnet es im süden",
                                    "MORGEN REGEN", "0-8 8-20", "3-5 19-20"]
    assert Sample("x", "/v", 9, bad_frames=[(3, 5), (7, 8)]).bad_frame_indices() == [3, 4, 7]
    assert spans([2, 3, 7, 8, 9, 11]) == [(2, 4), (7, 10), (11, 12)] and spans([]) == []


def test_empty_manifest_round_trips(tmp_path: Path):
    write_manifest(tmp_path / "e.tsv", [])
    assert (tmp_path / "e.tsv").read_text() == HEADER + "\n"
    assert read_manifest(tmp_path / "e.tsv") == []


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "rows, header, needle",
    [
        (["a\t/v\t3\ts\tt\t\t"], "id\tvideo\tnum_frames\tsigner\ttext", "glosses, segments"),
        (["a\t/v\t3\ts\tt\t\t", "a\t/w\t4\ts\tu\t\t"], OLD_HEADER, "bad.tsv:3: duplicate id 'a' (first on line 2)"),
        (["a\t/v\tmany\ts\tt\t\t"], OLD_HEADER, "bad.tsv:2: num_frames 'many'"),
        (["a\t/v\t0\ts\tt\t\t"], OLD_HEADER, "num_frames must be a positive integer"),
        (["a\t/v\t9\ts\tt\tX Y\t0-4 4-x"], OLD_HEADER, "bad.tsv:2: segment '4-x'"),
        (["a\t/v\t9\ts\tt\tX Y\t0-4 4-4"], OLD_HEADER, "empty or reversed"),
        (["a\t/v\t9\ts\tt\tX Y\t0-4"], OLD_HEADER, "1 segments for 2 glosses"),
        (["a\t/v\t9\ts\tt\tX\t0-12"], OLD_HEADER, "past num_frames 9"),
        (["a\t/v\t9\ts\tt"], OLD_HEADER, "5 fields, the header has 7"),
        (["a\t/v\t9\ts\tt\t\t\t8-10"], HEADER, "bad frames end past num_frames 9"),
        (["a\t/v\t9\ts\tt\t\t\t3"], HEADER, "segment '3'"),
    ],
)
def test_read_refuses_malformed(tmp_path: Path, rows, header, needle):
    path = _write(tmp_path, *rows, header=header)
    with pytest.raises(DataError) as err:
        read_manifest(path)
    assert needle in str(err.value)
    assert "bad.tsv" in str(err.value)


def test_read_refuses_non_utf8_naming_the_line(tmp_path: Path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes((HEADER + "\na\t/v\t3\ts\tok\t\t\nb\t/v\t3\ts\t").encode() + "grün".encode("latin-1") + b"\t\t\n")
    with pytest.raises(DataError, match=r"latin1\.tsv:3: not valid UTF-8"):
        read_manifest(path)


def test_write_refuses_tabs_and_duplicates_and_leaves_old_file(tmp_path: Path):
    path = tmp_path / "train.tsv"
    write_manifest(path, _samples())
    before = path.read_bytes()
    bad = _samples() + [Sample("c", "/v", 3, "", "a\tb")]
    with pytest.raises(DataError, match="'c'.*column text contains a tab"):
        write_manifest(path, bad)
    with pytest.raises(DataError, match="duplicate id"):
        write_manifest(path, _samples() + _samples()[:1])
    assert path.read_bytes() == before  # a failed write changes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.tsv"]  # and leaves no temporary file
