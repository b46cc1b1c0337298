"""Rule pretrain: pseudo-gloss pretraining (torchrun on several GPUs)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from pathlib import Path

from sign2gpt.app.stage_runner import run_stage
from sign2gpt.core.settings import run_only
from sign2gpt.training.launch import launch

with run_stage(snakemake) as smk:  # noqa: F821
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
    launch("sign2gpt.training.pretrain:run_pretrain", kwargs, nproc=smk.config["gpus"] or 1)
