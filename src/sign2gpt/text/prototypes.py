"""Pseudo-gloss prototypes (spec §3.7, §6): one fastText vector per vocabulary item + a zero row.

The pretraining head scores frames by cosine similarity against these frozen vectors. Row i is
the vector of vocabulary item i (ids are positions in the sorted vocabulary of
pseudo_glosses.json); the last row is the zero "blank" prototype. Stored as safetensors: tensor
`prototypes` float32 [V + 1, dim], metadata `vocab` (JSON list) so a head can refuse prototypes
built for another vocabulary.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from tqdm import tqdm

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path, read_json
from sign2gpt.text.fasttext_model import load_fasttext

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TENSOR = "prototypes"


def run_prototypes(
    pseudo_glosses_json: str | os.PathLike, out_path: str | os.PathLike, *, fasttext_bin: str | os.PathLike | None,
    progress: bool = True,
) -> None:
    """Rule prototypes: fastText vector of every vocabulary item, zero prototype last."""
    try:
        data = read_json(pseudo_glosses_json)
        vocab: list[str] = list(data["vocab"])
        language = data.get("language", "de")
    except (OSError, ValueError, KeyError) as err:
        raise DataError(str(pseudo_glosses_json), f"cannot read the vocabulary: {err}") from err
    if not vocab:
        raise DataError(str(pseudo_glosses_json), "empty pseudo-gloss vocabulary: nothing to make prototypes for")

    model = load_fasttext(fasttext_bin, language=language)
    dim = model.get_dimension()
    prototypes = np.zeros((len(vocab) + 1, dim), dtype=np.float32)  # [V + 1, dim], last row zero
    for i, item in enumerate(tqdm(vocab, desc="prototypes", unit="item", disable=not progress)):
        prototypes[i] = model.get_word_vector(item)

    norms = np.linalg.norm(prototypes[:-1], axis=1)
    zero = [vocab[i] for i in np.flatnonzero(norms == 0)]
    if zero:
        # An unseen word with no n-gram in the model (e.g. a short word under minn=5) gets the zero
        # vector: it can never be told apart from the blank prototype.
        logger.warning("%d pseudo-glosses have a zero fastText vector: %s", len(zero), zero[:20])
    logger.info("prototypes: %d items + blank, dim %d, from %s", len(vocab), dim, fasttext_bin)

    metadata = {"vocab": json.dumps(vocab, ensure_ascii=False), "dim": str(dim),
                "fasttext": Path(str(fasttext_bin)).name, "language": language}
    with atomic_path(out_path) as tmp:
        save_file({TENSOR: prototypes}, str(tmp), metadata=metadata)  # the file torch writes, without torch


def load_prototypes(
    path: str | os.PathLike, expected_vocab: list[str] | None = None
) -> tuple[torch.Tensor, list[str]]:
    """(prototypes float32 [V + 1, dim], vocab); refuses a file that is inconsistent or built
    for a different vocabulary than `expected_vocab`."""
    import torch  # the pretraining head's; writing the file needs none

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if TENSOR not in f.keys():
                raise DataError(str(path), f"no tensor {TENSOR!r} in the prototype file")
            prototypes = f.get_tensor(TENSOR)
    except DataError:
        raise
    except Exception as err:  # safetensors raises its own error types for a corrupt header
        raise DataError(str(path), f"cannot read the prototype file: {err}") from err
    try:
        vocab = json.loads(metadata["vocab"])
    except (KeyError, ValueError) as err:
        raise DataError(str(path), "metadata 'vocab' (a JSON list) is missing or unreadable") from err
    if prototypes.dtype != torch.float32 or prototypes.ndim != 2 or prototypes.shape[0] != len(vocab) + 1:
        raise DataError(
            str(path), f"expected float32 [V + 1 = {len(vocab) + 1}, dim], "
                       f"got {prototypes.dtype} {list(prototypes.shape)}"
        )
    if torch.count_nonzero(prototypes[-1]) != 0:
        raise DataError(str(path), "the last row (the blank prototype) must be zero")
    if expected_vocab is not None and list(expected_vocab) != vocab:
        diff = sorted(set(expected_vocab) ^ set(vocab))[:5]
        raise DataError(
            str(path),
            f"built for a different pseudo-gloss vocabulary ({len(vocab)} items, expected {len(expected_vocab)}; "
            f"e.g. {diff or 'same items, different order'}): rerun the prototypes rule",
        )
    return prototypes, vocab
