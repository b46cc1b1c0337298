"""Where the PHOENIX-2014T, CSL-Daily and How2Sign releases keep their files, relative to the release folder.

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


HOW2SIGN_SPLITS = {"train": "train", "dev": "val", "test": "test"}  # our split -> the release's name


def how2sign_table(root: str | os.PathLike, split: str) -> Path:
    """`how2sign_realigned_{train,val,test}.csv` (tab-separated) under the release folder."""
    return Path(root) / f"how2sign_realigned_{HOW2SIGN_SPLITS[split]}.csv"


def how2sign_clips(root: str | os.PathLike, split: str) -> Path:
    """The folder of sentence clips `<SENTENCE_NAME>.mp4`: `{split}_rgb_front_clips/raw_videos/`."""
    return Path(root) / f"{HOW2SIGN_SPLITS[split]}_rgb_front_clips" / "raw_videos"
