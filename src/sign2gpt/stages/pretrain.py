"""Stage 1: the embedded default's backbone, pseudo-gloss pretraining, the cached features Z.

Each function is what one rule runs (`sign2gpt.app.rules.RULES`), given the rule's `snakemake`
object: it hands the rule's files and params to the package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sign2gpt.core.settings import run_only
from sign2gpt.training.cache_features import run_cache_features, run_frame_features
from sign2gpt.training.launch import launch
from sign2gpt.training.spatial_pretrain import pretrain_spatial


def spatial_pretrain(smk: Any) -> None:
    """Rule spatial_pretrain (embedded default): a self-supervised backbone from the training frames."""
    spatial = dict(smk.params.spatial)
    pretrain_spatial(
        smk.input.train,
        list(smk.input.frames),
        smk.output[0],
        spatial=spatial,
        settings=dict(spatial["pretrain"]),
        device=smk.config["device"],
        threads=smk.threads,
    )


def pretrain(smk: Any) -> None:
    """Rule pretrain: pseudo-gloss pretraining (torchrun on several GPUs)."""
    kwargs = dict(
        train_manifest=smk.input.train,
        dev_manifest=smk.input.dev,
        frames=list(smk.input.frames_train) + list(smk.input.frames_dev),
        pseudo_glosses=smk.input.pseudo_glosses,
        prototypes=smk.input.prototypes,
        out_dir=str(Path(smk.output.best).parent),
        spatial=dict(smk.params.spatial),
        encoder=dict(smk.params.encoder),
        head=dict(smk.params.head),
        frames_cfg=dict(smk.params.frames),
        train={**smk.params.train, **run_only(smk.config, "pretrain")},  # not params: they rerun nothing
        seed=int(smk.wildcards.seed),
        device=smk.config["device"],
        precision=smk.config["precision"],
    )
    launch("sign2gpt.training.pretrain:run_pretrain", kwargs, nproc=smk.config["gpus"] or 1, log_file=smk.log[0])


def cache_features(smk: Any) -> None:
    """Rule cache_features: Z of the frozen pretrained encoder, once per video."""
    run_cache_features(
        checkpoint=smk.input.checkpoint,
        manifest=smk.input.manifest,
        frames=list(smk.input.frames),
        out_path=smk.output[0],
        spatial=dict(smk.params.spatial),
        encoder=dict(smk.params.encoder),
        frames_cfg=dict(smk.params.frames),
        num_workers=run_only(smk.config, "pretrain")["num_workers"],  # speed only: not a param
        device=smk.config["device"],
        precision=smk.config["precision"],
    )


def frame_features(smk: Any) -> None:
    """Rule frame_features: a frozen backbone's feature of every stored frame of a split, once."""
    run_frame_features(frames=list(smk.input.frames), out_path=smk.output[0], spatial=dict(smk.params.spatial),
                       device=smk.config["device"], precision=smk.config["precision"])
