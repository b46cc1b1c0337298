"""The embedded default's language model, pretrained on the training text.

Each function is what one rule runs (`sign2gpt.app.rules.RULES`), given the rule's `snakemake`
object: it hands the rule's files and params to the package."""

from __future__ import annotations

from typing import Any

from sign2gpt.data.manifest import read_manifest
from sign2gpt.lm.pretrain import pretrain_lm


def lm_pretrain(smk: Any) -> None:
    """Rule lm_pretrain (embedded default): tokenizer + small XGLM pretrained on the training text."""
    texts = [s.text for s in read_manifest(smk.input.train)]
    p = dict(smk.params.pretrain)
    pretrain_lm(
        texts,
        smk.output[0],
        vocab_size=smk.params.vocab_size,
        config=dict(smk.params.config),
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        seed=p["seed"],
        threads=smk.threads,
    )
