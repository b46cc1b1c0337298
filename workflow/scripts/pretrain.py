"""Rule pretrain: pseudo-gloss pretraining (torchrun on several GPUs)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from pathlib import Path

from sign2gpt.stage import run_stage
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
        # loader workers and kept maps change no result: from the config, not params (nothing reruns)
        train={**smk.params.train, **{k: smk.config["pretrain"][k] for k in ("num_workers", "localization_examples")
                                      if k in smk.config["pretrain"]}},
        seed=int(smk.wildcards.seed),
        device=smk.config.get("device", "auto"),
        precision=smk.config.get("precision", "auto"),
    )
    launch("sign2gpt.training.pretrain:run_pretrain", kwargs, nproc=int(smk.config.get("gpus", 0) or 1))
