"""Translating a new video with a trained run (what `sign2gpt translate` does).

Reads `inference.json` beside the chosen variant's best checkpoint, rebuilds the model exactly as
the evaluate stage does, decodes the video the way the decode stage did (stride, resize), takes
the evaluation frames (every second frame) and runs beam search.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from sign2gpt.data.augment import eval_transform
from sign2gpt.data.sampling import sample_indices
from sign2gpt.data.video import read_frames
from sign2gpt.errors import DataError
from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.io import read_json
from sign2gpt.models.sign_model import build_sign_model
from sign2gpt.models.translator import SignTranslator, start_token_id
from sign2gpt.training.checkpoint import load_checkpoint, load_weights
from sign2gpt.training.translate import build_translator
from sign2gpt.utils import resolve_device

log = logging.getLogger(__name__)


def find_variant_dir(run: str | Path, variant: str, seed: int | None) -> Path:
    run = Path(run)
    pattern = f"seed{seed}/translate-{variant}" if seed is not None else f"seed*/translate-{variant}"
    found = sorted(p for p in run.glob(pattern) if (p / "best.safetensors").exists() and (p / "inference.json").exists())
    if not found:
        raise DataError(str(run), f"no trained {variant} model ({pattern}/best.safetensors + inference.json); "
                                  "run the workflow first")
    return found[0]


class VideoTranslator:
    def __init__(self, model: SignTranslator, tokenizer, settings: dict, device: torch.device):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = device
        self.start_id = start_token_id(model.lm.lm, tokenizer)

    @classmethod
    def from_run(cls, run: str | Path, *, variant: str = "pgp", seed: int | None = None, device: str = "cpu") -> "VideoTranslator":
        folder = find_variant_dir(run, variant, seed)
        s = read_json(folder / "inference.json")
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

    @torch.no_grad()
    def translate(self, video: str | Path, *, beam: int | None = None) -> str:
        s = self.settings
        decode = s.get("decode", {})
        frames = read_frames(video, stride=int(decode.get("stride", 1)), size=decode.get("size"))
        idx = sample_indices(len(frames), train=False, stride=int(s["frames"].get("frame_stride", 2)),
                             max_frames=s["frames"].get("max_frames"), store_stride=int(decode.get("stride", 1)))
        clip = eval_transform(frames[idx], int(s["spatial"]["image_size"]))  # [T, 3, S, S]
        memory, mask = self.model.encode({"frames": clip, "lengths": [clip.shape[0]]})
        seq = beam_search(self.model.lm, memory, mask, bos_id=self.start_id, eos_id=int(self.tokenizer.eos_token_id),
                          pad_id=int(self.tokenizer.pad_token_id), beam=int(beam or s["evaluate"].get("beam", 4)),
                          max_len=int(s["evaluate"].get("max_tokens", 64)))[0]
        return self.tokenizer.decode(seq, skip_special_tokens=True).strip()
