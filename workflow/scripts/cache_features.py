"""Rule cache_features: Z of the frozen pretrained encoder, once per video."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.core.settings import run_only
from sign2gpt.training.cache_features import run_cache_features

with run_stage(snakemake) as smk:  # noqa: F821
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
