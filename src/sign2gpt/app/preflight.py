"""Everything outside the project a configuration needs, checked at once before a run.

A new user of a preset meets each missing thing (the corpus, the spaCy pipeline, the fastText
vectors, DINOv2 and XGLM weights, a GPU) in a separate failed run, hours apart on a cluster.
`sign2gpt check-config PRESET --preflight` lists all of them in one go, one line each with how to
get it. Relative paths are taken from the folder Snakemake will run in (the current one).
Nothing is downloaded and nothing heavy is loaded: files are looked for, not read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sign2gpt.data.ingest import SPLITS
from sign2gpt.data.release_paths import (
    CSL_FRAMES,
    CSL_PICKLE,
    CSL_SPLIT_FILE,
    PHOENIX_FRAMES,
    how2sign_clips,
    how2sign_table,
    phoenix_corpus_csv,
)
from sign2gpt.lm.loading import HUB_ID

FASTTEXT_URL = "https://dl.fbaipublicfiles.com/fasttext/vectors-crawl/cc.{lang}.300.bin.gz"


@dataclass(frozen=True)
class Missing:
    what: str  # the config key
    where: str  # the path or name looked for
    how: str  # how to get it

    def __str__(self) -> str:
        return f"missing: {self.what}: {self.where} — {self.how}"


def _dataset(ds: Mapping[str, Any]) -> list[Missing]:
    kind, root = ds["kind"], ds.get("root")
    if kind == "synthetic":
        return []  # the workflow renders it
    if not root or not Path(root).is_dir():
        return [Missing("dataset.root", str(root), f"put the {kind} release there, or set dataset.root to its folder")]
    root = Path(root)
    if kind == "phoenix14t":
        needed = [phoenix_corpus_csv(root, s) for s in SPLITS]
        needed += [root / PHOENIX_FRAMES / s for s in SPLITS]
    elif kind == "csldaily":
        needed = [root / CSL_SPLIT_FILE, root / CSL_PICKLE, root / CSL_FRAMES]
    elif kind == "how2sign":
        needed = [how2sign_table(root, s) for s in SPLITS] + [how2sign_clips(root, s) for s in SPLITS]
    else:  # folder
        needed = [root / ds["index"]]
    return [Missing(f"dataset.root ({kind})", str(p),
                    "not in the dataset folder: is dataset.root the release's top folder?")
            for p in needed if not p.exists()]


def _spacy(cfg: Mapping[str, Any]) -> list[Missing]:
    name = cfg["pipeline"]
    if name == "offline" or (Path(name) / "config.cfg").is_file():
        return []
    if Path(name).is_dir() or "/" in name or os.sep in name:
        return [Missing("pseudo_glosses.pipeline", name, "not a spaCy pipeline folder (no config.cfg; write one "
                                                         "with nlp.to_disk), or name an installed spaCy package")]
    import spacy

    if spacy.util.is_package(name):
        return []
    return [Missing("pseudo_glosses.pipeline", name, f"python -m spacy download {name}")]


def _fasttext(cfg: Mapping[str, Any], language: str) -> list[Missing]:
    path = cfg["fasttext"]
    if not path or (Path(path).is_file() and os.path.getsize(path) > 0):
        return []
    return [Missing("prototypes.fasttext", str(path),
                    f"wget {FASTTEXT_URL.format(lang=language)} && gunzip it to that path")]


def _model_found(name: str) -> bool:
    """A save_pretrained folder, or a hub id whose snapshot is in the local Hugging Face cache."""
    if Path(name).expanduser().is_dir():
        return (Path(name).expanduser() / "config.json").is_file()
    if not HUB_ID.match(name):
        return False
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json")
    return isinstance(found, str)


def _model(key: str, name: str | None) -> list[Missing]:
    if not name or _model_found(str(name)):
        return []
    name = str(name)
    if Path(name).expanduser().is_dir():
        how = "this folder has no config.json: write it with save_pretrained"
    elif HUB_ID.match(name):  # `org/model` is a hub id or a relative folder: say both
        how = (f"neither a folder here nor in the Hugging Face cache: `hf download {name}` if it is a hub id, "
               "else fix the path")
    else:
        how = "no such folder (a save_pretrained folder with config.json)"
    return [Missing(key, name, how)]


def _gpus(config: Mapping[str, Any]) -> list[Missing]:
    gpus, device = int(config["gpus"]), config["device"]
    if not gpus and device != "cuda":
        return []
    import torch

    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wanted = max(gpus, 1)
    if have >= wanted:
        return []
    build = "a CPU build of torch" if torch.version.cuda is None else f"torch for CUDA {torch.version.cuda}"
    return [Missing("gpus" if gpus else "device", f"{wanted} CUDA GPU(s), {have} visible ({build})",
                    "run on a GPU machine with the CUDA build of torch (docs/gpus-and-clusters.md), "
                    "or set gpus: 0 and device: cpu")]


def preflight(config: Mapping[str, Any], *, gpus: bool = True) -> list[Missing]:
    """Every missing external input of a validated configuration (empty: all found).

    gpus=False leaves out the GPU check: a cluster's login node, where Snakemake runs, has none;
    the jobs get theirs from SLURM."""
    missing = _dataset(config["dataset"])
    missing += _spacy(config["pseudo_glosses"])
    missing += _fasttext(config["prototypes"], config["dataset"]["language"])
    missing += _model("spatial.pretrained", config["spatial"].get("pretrained"))
    missing += _model("lm.pretrained", config["lm"].get("pretrained"))
    if gpus:
        missing += _gpus(config)
    return missing
