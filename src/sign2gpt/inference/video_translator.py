"""Translating a new video with a trained run or an exported model folder (`sign2gpt translate`).

Either way the translator is rebuilt from its record (`sign2gpt.core.record.TranslatorRecord`):
from a run, the `inference.json` beside the chosen variant's best checkpoint (its local paths are
relative to that folder, so a moved or copied results folder still works); from a model folder
(`sign2gpt export`), its `config.json`. The video is decoded the way the decode stage did (stride,
resize), the evaluation frames are taken (every `frame_stride`-th) and beam search runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from sign2gpt.core.errors import DataError
from sign2gpt.core.record import RUN_RECORD, TranslatorRecord
from sign2gpt.data.augment import eval_transform
from sign2gpt.data.sampling import sample_indices
from sign2gpt.data.video import read_frames
from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.inference.model_folder import TOKENIZER, load_model_weights, read_model_record
from sign2gpt.lm.targets import decode_sentence, start_token_id
from sign2gpt.models.build import build_translator
from sign2gpt.models.sign_model import build_sign_model
from sign2gpt.models.translator import SignTranslator
from sign2gpt.runtime.checkpoint import load_checkpoint, load_weights
from sign2gpt.runtime.device import resolve_device
from sign2gpt.runtime.precision import Precision, select_precision

log = logging.getLogger(__name__)


def find_variant_dir(run: str | Path, variant: str, seed: int | None) -> Path:
    run = Path(run)
    pattern = f"seed{seed}/translate-{variant}" if seed is not None else f"seed*/translate-{variant}"
    found = sorted(p for p in run.glob(pattern)
                   if (p / "best.safetensors").exists() and (p / RUN_RECORD).exists())
    if not found:
        raise DataError(str(run), f"no trained {variant} model ({pattern}/best.safetensors + {RUN_RECORD}); "
                                  "run the workflow first")
    return found[0]


class VideoTranslator:
    """A trained translator with its tokenizer and its record (preprocessing and decoding).

    It runs in the precision the evaluate stage picks on the same device (`select_precision`, auto:
    bf16 autocast with the LM in bf16 on recent GPUs, fp32 on a CPU), so its translations are those the
    reported scores came from."""

    def __init__(self, model: SignTranslator, tokenizer, record: TranslatorRecord, device: torch.device,
                 precision: Precision | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.record = record
        self.device = device
        self.precision = precision or select_precision(device)
        self.start_id = start_token_id(model.lm.lm, tokenizer)

    @classmethod
    def from_run(
        cls, run: str | Path, *, variant: str = "pgp", seed: int | None = None, device: str = "cpu",
        precision: str = "auto",
    ) -> VideoTranslator:
        """The best checkpoint of a variant of a run (an experiment folder), built as the evaluate stage does."""
        folder = find_variant_dir(run, variant, seed)
        record = TranslatorRecord.read_run(folder)
        dev = resolve_device(device)
        prec = select_precision(dev, precision)
        model, tokenizer = build_translator(record.variant, lm=record.lm, spatial=record.spatial_config(),
                                           encoder=record.encoder, lora=record.lora, device=dev,
                                           pretrained=record.pretrained, freeze_sign=record.freeze_sign,
                                           lm_dtype=prec.lm_dtype, memory_pe=record.memory_pe)
        load_checkpoint(folder / "best.safetensors", model, restore_rng=False)
        if record.variant == "z":  # the cached features came from the frozen pretrained encoder: run it here
            sign_model = build_sign_model(record.spatial_config(), record.encoder)
            load_weights(record.pretrained, sign_model, prefix_map={"sign_model.": ""})
            model.sign_model = sign_model.to(dev)
        log.info("loaded %s (%s, %s)", folder, record.variant, prec.name)
        return cls(model, tokenizer, record, dev, prec)

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, device: str = "cpu", precision: str = "auto") -> VideoTranslator:
        """An exported model folder (`sign2gpt export`), without the run it came from."""
        from transformers import AutoTokenizer

        record = read_model_record(folder)
        dev = resolve_device(device)
        prec = select_precision(dev, precision)
        # pgp and scratch share one architecture; the folder's weights replace every initialisation
        model, _ = build_translator("z" if record.variant == "z" else "scratch", lm=record.lm,
                                    spatial=record.spatial_config(), encoder=record.encoder, lora=record.lora,
                                    device=dev, lm_dtype=prec.lm_dtype, memory_pe=record.memory_pe)
        if record.variant == "z":  # z trained on cached features; the frozen pretrained sign model is in the folder
            model.sign_model = build_sign_model(record.spatial_config(), record.encoder).to(dev)
        load_model_weights(folder, model, record.base_models())
        tokenizer = AutoTokenizer.from_pretrained(str(Path(folder) / TOKENIZER), local_files_only=True)
        log.info("loaded model folder %s (%s, %s)", folder, record.variant, prec.name)
        return cls(model.to(dev), tokenizer, record, dev, prec)

    @torch.no_grad()
    def encode_video(self, video: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
        """The sign memory [1, T', D] and its mask of one video, decoded and sampled as the run did."""
        pre = self.record.preprocessing
        frames = read_frames(video, stride=pre.decode_stride, size=pre.decode_size)
        idx = sample_indices(len(frames), train=False, stride=pre.frame_stride, max_frames=pre.max_frames,
                             store_stride=pre.decode_stride)
        clip = eval_transform(frames[idx], pre.image_size)  # [T, 3, S, S]
        with self.precision.autocast():
            return self.model.encode({"frames": clip, "lengths": [clip.shape[0]]})

    @torch.no_grad()
    def translate(self, video: str | Path, *, beam: int | None = None) -> str:
        dec = self.record.decoding  # the beam search the reported scores used
        memory, mask = self.encode_video(video)
        with self.precision.autocast():
            seq = beam_search(self.model.lm, memory, mask, bos_id=self.start_id,
                              eos_id=int(self.tokenizer.eos_token_id), pad_id=int(self.tokenizer.pad_token_id),
                              beam=int(beam or dec.beam), max_len=dec.max_tokens)[0]
        return decode_sentence(self.tokenizer, seq)
