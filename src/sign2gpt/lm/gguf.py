"""A causal LM shipped as a GGUF file (llama.cpp's format) as a `save_pretrained` folder.

transformers reads GGUF (`from_pretrained(..., gguf_file=...)`, with the `gguf` package) and
dequantizes the weights to float32, but refuses `save_pretrained` on a model loaded that way.
Copying the weights into a plain model of the same configuration gives a folder that
`lm.pretrained` loads like any other (`sign2gpt.lm.loading`). The weights are the dequantized
values of the quantized file: close to, not equal to, the original checkpoint.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path

log = logging.getLogger(__name__)


def gguf_to_pretrained(gguf_path: str | os.PathLike, out_dir: str | os.PathLike,
                       extra_files: Iterable[str | os.PathLike] = ()) -> Path:
    """Write `out_dir` (config, float32 safetensors, tokenizer) from one GGUF file; `extra_files`
    (a licence, a notice) are copied beside them."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise DataError(str(gguf_path), "GGUF file not found")
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                      local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    except (OSError, ValueError, ImportError) as e:
        raise DataError(str(gguf_path), f"cannot read as a transformers GGUF model ({e})") from e
    config = AutoConfig.for_model(**loaded.config.to_dict())
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise DataError(str(gguf_path), f"weights do not fit {type(plain).__name__}: missing {missing[:3]}, "
                                        f"unexpected {unexpected[:3]}")
    with atomic_path(out_dir, is_dir=True) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for extra in extra_files:
            shutil.copyfile(extra, tmp / Path(extra).name)
    log.info("%s -> %s (%s, %d parameters)", gguf_path, out_dir, config.model_type,
             sum(p.numel() for p in plain.parameters()))
    return Path(out_dir)
