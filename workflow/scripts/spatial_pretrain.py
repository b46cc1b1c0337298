"""Rule spatial_pretrain (embedded default): a self-supervised backbone from the training frames."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.training.spatial_pretrain import pretrain_spatial

with run_stage(snakemake) as smk:  # noqa: F821
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
