"""Load the frozen causal LM and its tokenizer, by hub name or `save_pretrained` directory.

Everything goes through transformers' own API (`AutoModelForCausalLM.from_pretrained`,
`AutoTokenizer.from_pretrained`), so the embedded default's directory (rule `lm_pretrain`) and
`facebook/xglm-1.7B` load the same way. Nothing is ever downloaded: a hub name resolves only
to a snapshot already in the local Hugging Face cache, and a missing model is an error that
says what to download. (Calling `from_pretrained(hub_name, local_files_only=True)` directly is
not enough: transformers still probes the network for optional files and retries for minutes.)
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sign2gpt.core.errors import DataError
from sign2gpt.runtime.precision import select_precision

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def compute_dtype(device: torch.device) -> torch.dtype:
    """The frozen LM's dtype under `precision: auto` (sign2gpt.runtime.precision): bf16 on GPUs with bf16
    (spec §8.2), fp16 on older GPUs, float32 on the CPU."""
    return select_precision(device).lm_dtype


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """A local directory for `name_or_path`, without touching the network.

    A path that exists is used as is; otherwise a hub id (`org/name`) is looked up in the
    local Hugging Face cache. Anything else is a `DataError` that names what to get.
    """
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DataError(name, "directory has no config.json: not a save_pretrained model directory")
        return path
    if not HUB_ID.match(name):
        raise DataError(name, "no such model directory; run the `lm_pretrain` rule (embedded default) "
                              "or set lm.pretrained to a hub name or a save_pretrained directory")
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except LocalEntryNotFoundError:
        raise DataError(name, "not a local directory and not in the local Hugging Face cache; nothing is "
                              f"downloaded at run time. Download it once with `hf download {name}` (needs "
                              "network), or set lm.pretrained to a local directory") from None


def load_causal_lm(
    name_or_path: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The causal LM (frozen, eval mode, on `device`) and its tokenizer.

    `dtype` defaults to `compute_dtype(device)` (the `precision: auto` LM dtype). A tokenizer
    without a pad token (Llama) gets its eos token as pad; pads are masked out everywhere.
    """
    device = torch.device(device)
    directory = resolve_model_dir(name_or_path)
    dtype = dtype or compute_dtype(device)
    lm = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, local_files_only=True)
    lm.to(device).eval().requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    if tokenizer.eos_token_id is None:
        raise DataError(str(name_or_path), "tokenizer has no eos token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
        log.info("tokenizer has no pad token: using eos (%r) for padding", tokenizer.eos_token)
    if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
        raise DataError(str(name_or_path), f"tokenizer has {len(tokenizer)} tokens but the model's embedding "
                                           f"has {lm.get_input_embeddings().num_embeddings} rows")
    log.info("loaded %s (%s, %d parameters, %s on %s)", name_or_path, lm.config.model_type,
             sum(p.numel() for p in lm.parameters()), dtype, device)
    return lm, tokenizer
