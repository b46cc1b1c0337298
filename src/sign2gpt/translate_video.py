"""Translating a new video with a trained run or an exported model folder (`sign2gpt translate`).

From a run: reads `inference.json` beside the chosen variant's best checkpoint (its local paths
are relative to that folder, so a moved or copied results folder still works), rebuilds the
model exactly as the evaluate stage does. From a model folder (`sign2gpt export`): see
`sign2gpt.model_folder`. Either way the video is decoded the way the decode stage did (stride,
resize), the evaluation frames are taken (every `frame_stride`-th) and beam search runs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import read_json, resolve_portable_path
from sign2gpt.core.settings import complete_stored_model
from sign2gpt.data.augment import eval_transform
from sign2gpt.data.sampling import sample_indices
from sign2gpt.data.video import FRAME_EXTENSIONS, count_frames, list_frame_files, read_frames
from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.models.build import build_translator
from sign2gpt.models.sign_model import build_sign_model
from sign2gpt.models.translator import SignTranslator, start_token_id
from sign2gpt.runtime.checkpoint import load_checkpoint, load_weights
from sign2gpt.runtime.device import resolve_device

log = logging.getLogger(__name__)


def find_variant_dir(run: str | Path, variant: str, seed: int | None) -> Path:
    run = Path(run)
    pattern = f"seed{seed}/translate-{variant}" if seed is not None else f"seed*/translate-{variant}"
    found = sorted(p for p in run.glob(pattern)
                   if (p / "best.safetensors").exists() and (p / "inference.json").exists())
    if not found:
        raise DataError(str(run), f"no trained {variant} model ({pattern}/best.safetensors + inference.json); "
                                  "run the workflow first")
    return found[0]


VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
LIST_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})


def _listed_videos(path: Path) -> list[str]:
    """A .csv/.tsv/.txt list of videos: the `video` column when there is a header with one, else
    the first column; blank lines and '#' comments skipped; relative paths are relative to the list."""
    import csv

    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = [r for r in csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter=delimiter)
            if r and r[0].strip() and not r[0].lstrip().startswith("#")]
    column = 0
    if rows and "video" in [c.strip() for c in rows[0]]:
        column = [c.strip() for c in rows[0]].index("video")
        rows = rows[1:]
    return [str(path.parent / r[column].strip()) for r in rows if len(r) > column]


def _folder_videos(path: Path) -> list[str]:
    """A folder is one video when it holds frame images; otherwise the videos (files, or frame
    folders) inside it."""
    if list_frame_files(path):
        return [str(path)]
    inside = sorted(path.iterdir())
    return [str(p) for p in inside if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()] + \
           [str(p) for p in inside if p.is_dir() and not p.name.startswith(".") and list_frame_files(p)]


def collect_videos(items: list[str]) -> tuple[list[str], list[DataError]]:
    """The videos named by `items` (video files, frame folders, folders of videos, lists of videos),
    each opened once to check it: (readable videos, one DataError per bad one)."""
    videos, errors = [], []
    for item in items:
        path = Path(item)
        try:
            if path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
                candidates = _listed_videos(path)
            elif path.is_dir():
                candidates = _folder_videos(path)
            else:
                candidates = [item]
            if not candidates:
                raise DataError(item, "no videos or frame folders in it")
        except (OSError, UnicodeDecodeError) as e:
            errors.append(DataError(item, f"cannot read: {e}"))
            continue
        except DataError as e:
            errors.append(e)
            continue
        for video in candidates:
            try:
                if Path(video).suffix.lower() in FRAME_EXTENSIONS:
                    raise DataError(video, "a single image, not a video; give the folder of frames")
                count_frames(video)
                videos.append(video)
            except DataError as e:
                errors.append(e)
    return videos, errors


def read_inference_settings(folder: str | os.PathLike) -> dict[str, Any]:
    """inference.json of a trained variant, with its local paths made absolute again."""
    folder = Path(folder)
    s = complete_stored_model(read_json(folder / "inference.json"))
    s["lm"], s["pretrained"] = (resolve_portable_path(s["lm"], folder),
                                resolve_portable_path(s.get("pretrained"), folder))
    s["spatial"] = {**s["spatial"], "pretrained": resolve_portable_path(s["spatial"].get("pretrained"), folder)}
    evaluated = folder.parent / f"eval-{s['variant']}" / "metrics.json"  # decode as the reported scores did
    if evaluated.is_file():
        e = read_json(evaluated)
        s["evaluate"] = {**s["evaluate"], "beam": e["beam"], "max_tokens": e["max_tokens"]}
    return s


class VideoTranslator:
    def __init__(self, model: SignTranslator, tokenizer, settings: dict, device: torch.device):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = device
        self.start_id = start_token_id(model.lm.lm, tokenizer)

    @classmethod
    def from_run(
        cls, run: str | Path, *, variant: str = "pgp", seed: int | None = None, device: str = "cpu"
    ) -> VideoTranslator:
        folder = find_variant_dir(run, variant, seed)
        s = read_inference_settings(folder)
        dev = resolve_device(device)
        model, tokenizer = build_translator(s["variant"], lm=s["lm"], spatial=s["spatial"], encoder=s["encoder"],
                                           lora=s["lora"], device=dev, pretrained=s["pretrained"],
                                           freeze_sign=s["freeze_sign"])
        load_checkpoint(folder / "best.safetensors", model, restore_rng=False)
        if s["variant"] == "z":  # the cached features came from the frozen pretrained encoder: run it here
            sign_model = build_sign_model(s["spatial"], s["encoder"])
            load_weights(s["pretrained"], sign_model, prefix_map={"sign_model.": ""})
            model.sign_model = sign_model.to(dev)
        log.info("loaded %s (%s)", folder, s["variant"])
        return cls(model, tokenizer, s, dev)

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, device: str = "cpu") -> VideoTranslator:
        """An exported model folder (`sign2gpt export`), without the run it came from."""
        from sign2gpt.model_folder import load_model_folder

        return load_model_folder(folder, device=device)

    @torch.no_grad()
    def translate(self, video: str | Path, *, beam: int | None = None) -> str:
        s = self.settings
        decode, sampling = s["decode"], s["frames"]  # as the run decoded and sampled its videos
        frames = read_frames(video, stride=int(decode["stride"]), size=decode["size"])
        idx = sample_indices(len(frames), train=False, stride=int(sampling["frame_stride"]),
                             max_frames=sampling["max_frames"], store_stride=int(decode["stride"]))
        clip = eval_transform(frames[idx], int(s["spatial"]["image_size"]))  # [T, 3, S, S]
        memory, mask = self.model.encode({"frames": clip, "lengths": [clip.shape[0]]})
        seq = beam_search(self.model.lm, memory, mask, bos_id=self.start_id, eos_id=int(self.tokenizer.eos_token_id),
                          pad_id=int(self.tokenizer.pad_token_id), beam=int(beam or s["evaluate"]["beam"]),
                          max_len=int(s["evaluate"]["max_tokens"]))[0]
        return self.tokenizer.decode(seq, skip_special_tokens=True).strip()
