"""Where the PHOENIX-2014T and CSL-Daily releases keep their files, relative to the release folder.

One place for the paths that ingestion reads, the synthetic renderer writes in the release
layouts, and the preflight looks for. Imports nothing, so any process can use it cheaply.
"""

from __future__ import annotations

import os
from pathlib import Path

PHOENIX_FRAMES = "features/fullFrame-210x260px"
CSL_FRAMES = "sentence/frames_512x512"
CSL_SPLIT_FILE = "sentence_label/split_1.txt"
CSL_PICKLE = "sentence_label/csl2020ct_v2.pkl"


def phoenix_corpus_csv(root: str | os.PathLike, split: str) -> Path:
    """`annotations/manual/PHOENIX-2014-T.{split}.corpus.csv` under the release folder."""
    return Path(root) / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
