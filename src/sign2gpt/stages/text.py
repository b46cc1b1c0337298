"""The text stages: pseudo-glosses, the embedded default's fastText model, the prototypes.

Each function is what one rule runs (`sign2gpt.app.rules.RULES`), given the rule's `snakemake`
object: it hands the rule's files and params to the package."""

from __future__ import annotations

from typing import Any

from sign2gpt.data.manifest import read_manifest
from sign2gpt.text.fasttext_model import train_fasttext
from sign2gpt.text.prototypes import run_prototypes
from sign2gpt.text.pseudo_glosses import run_pseudo_glosses


def pseudo_glosses(smk: Any) -> None:
    """Rule pseudo_glosses: per-sentence pseudo-glosses, vocabulary, frequency cut, stats."""
    sentences = {split: [s.text for s in read_manifest(smk.input[split])] for split in ("train", "dev", "test")}
    cfg = smk.params.cfg
    run_pseudo_glosses(
        sentences,
        smk.output.json,
        smk.output.stats,
        language=smk.params.language,
        pipeline=cfg["pipeline"],
        vocab_from=cfg["vocab_from"],
        max_frequency=cfg["max_frequency"],
        words=cfg["words"],
        authors_file=smk.input.get("file"),
        expected_version=cfg["pipeline_version"],
    )


def fasttext(smk: Any) -> None:
    """Rule fasttext (embedded default): a skipgram model trained on the training-split text."""
    texts = [s.text for s in read_manifest(smk.input.train)]
    train_fasttext(texts, smk.output[0], language=smk.params.language, dim=smk.params.dim, **dict(smk.params.train))


def prototypes(smk: Any) -> None:
    """Rule prototypes: one fastText vector per pseudo-gloss plus the zero prototype."""
    run_prototypes(smk.input.pseudo_glosses, smk.output[0], fasttext_bin=smk.input.fasttext)
