"""The data stages: render the embedded corpus, ingest a corpus into manifests, decode frames.

Each function is what one rule runs (`sign2gpt.app.rules.RULES`), given the rule's `snakemake`
object: it hands the rule's files and params to the package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sign2gpt.core.job_resources import job_cpus
from sign2gpt.data.decode import decode_shard
from sign2gpt.data.ingest import prepare_dataset
from sign2gpt.data.synthetic.corpus import generate_corpus


def synthetic_corpus(smk: Any) -> None:
    """Rule synthetic_corpus: render the embedded synthetic signing corpus."""
    cfg = dict(smk.params.synthetic)
    generate_corpus(
        smk.output[0],
        language=cfg["language"],
        splits=dict(cfg["splits"]),
        signers=cfg["signers"],
        test_only_signers=cfg["test_only_signers"],
        image_size=cfg["image_size"],
        fps=cfg["fps"],
        frames_per_gloss=tuple(cfg["frames_per_gloss"]),
        transition_frames=tuple(cfg["transition_frames"]),
        noise=cfg["noise"],
        seed=cfg["seed"],
        from_csv=cfg["from_csv"],
        workers=cfg["workers"],
    )


def prepare(smk: Any) -> None:
    """Rule prepare: ingest the corpus into one manifest per split."""
    prepare_dataset(
        smk.params.kind,
        smk.params.root,
        Path(smk.output.train).parent,
        skip_bad_items=smk.params.skip_bad_items,
        max_bad_frame_share=smk.params.max_bad_frame_share,
        index=smk.params.index,
        workers=job_cpus(smk.threads) or 1,
        signer_independent=smk.params.signer_independent,
    )


def decode(smk: Any) -> None:
    """Rule decode: one shard of a split's videos into an HDF5 frame store."""
    cfg = smk.params.decode
    decode_shard(
        smk.input.manifest,
        smk.output[0],
        shard=int(smk.wildcards.shard),
        num_shards=smk.params.num_shards,
        stride=cfg["stride"],
        size=cfg["size"],
        storage=cfg["storage"],
        jpeg_quality=cfg["jpeg_quality"],
        skip_bad_items=smk.params.skip_bad_items,
        max_bad_frame_share=smk.params.max_bad_frame_share,
        threads=job_cpus(smk.threads) or 1,
    )
