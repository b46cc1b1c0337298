"""A trained translator as a self-contained folder: `sign2gpt export` writes it, `from_pretrained`
reads it, without the run folder it came from (the Hugging Face `save_pretrained` layout, so
`hf upload` can publish it as is; nothing here uploads anything).

Layout:
- `config.json`: format, the translator's record (variant, language, architecture, preprocessing,
  decoding, where the frozen base models come from; `sign2gpt.core.record.TranslatorRecord`), the
  weights' summary, and the SHA-256 of every file the loader reads;
- `model.safetensors`: every weight of the translator except the frozen base models' own weights
  (the LM's, and the spatial backbone's when it was frozen): the sign model, the LoRA adapters,
  the gated cross-attention, the memory projection;
- `tokenizer/`: the LM's tokenizer; `pseudo_gloss_vocab.json`: the pretraining vocabulary;
- `README.md`: a model card with the run's scores (and their bootstrap intervals), conventions
  and run card;
- `base/lm`, `base/backbone`: the frozen base models, only with `copy_base` (else config.json
  names them by hub id or by the local folder they were loaded from, and the card says so).

This module reads and checks the folder; `sign2gpt.inference.export` writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import file_sha256, read_json
from sign2gpt.core.record import TranslatorRecord

FORMAT = "sign2gpt-model-v1"
CONFIG, WEIGHTS, TOKENIZER, VOCAB, CARD = (
    "config.json", "model.safetensors", "tokenizer", "pseudo_gloss_vocab.json", "README.md"
)
BASE_PREFIXES = {"lm": "lm.lm.", "backbone": "sign_model.spatial.backbone."}  # state_dict names of the base models


def base_parameter_names(model: torch.nn.Module, bases: set[str]) -> set[str]:
    """The frozen parameters that belong to a base model in `bases` ("lm", "backbone"): loaded
    from that base model, so an export need not carry them."""
    prefixes = tuple(BASE_PREFIXES[b] for b in bases)
    return {n for n, p in model.named_parameters(remove_duplicate=False)
            if not p.requires_grad and n.startswith(prefixes)}


def read_model_folder(folder: str | os.PathLike) -> dict:
    """config.json of a model folder, after checking that every file it lists is there and unchanged."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file():
        raise DataError(str(folder / CONFIG), "missing: not a sign2gpt model folder (make one with `sign2gpt export`)")
    config = read_json(folder / CONFIG)
    if config.get("format") != FORMAT:
        raise DataError(str(folder / CONFIG), f"format {config.get('format')!r}, expected {FORMAT!r}")
    for name, digest in config.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise DataError(str(path), "missing from the model folder (incomplete copy?)")
        if file_sha256(path) != digest:
            raise DataError(str(path), "does not match the SHA-256 in config.json (changed or corrupt); "
                                       "refusing to load")
    if WEIGHTS not in config.get("files", {}):
        raise DataError(str(folder / WEIGHTS), "not listed in config.json's files")
    return config


def read_model_record(folder: str | os.PathLike) -> TranslatorRecord:
    """The translator's record of a checked model folder."""
    return TranslatorRecord.from_model_config(read_model_folder(folder), folder)


def load_model_weights(folder: str | os.PathLike, model: torch.nn.Module, bases: set[str]) -> None:
    """model.safetensors into `model`; every parameter must be there but the base models' frozen ones."""
    path = Path(folder) / WEIGHTS
    with safe_open(str(path), framework="pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    result = model.load_state_dict(tensors, strict=False)
    absent = sorted(set(result.missing_keys) - base_parameter_names(model, bases))
    if absent or result.unexpected_keys:
        raise DataError(str(path), f"does not fit the architecture in config.json: missing {absent[:5]}, "
                                   f"unexpected {result.unexpected_keys[:5]}")
