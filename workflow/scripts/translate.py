"""Rule translate: train one variant (torchrun on several GPUs)."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from pathlib import Path

from sign2gpt.app.stage_runner import run_stage
from sign2gpt.core.settings import run_only
from sign2gpt.training.launch import launch

with run_stage(snakemake) as smk:  # noqa: F821
    variant = smk.wildcards.variant
    kwargs = dict(
        variant=variant,
        train_manifest=smk.input.train,
        dev_manifest=smk.input.dev,
        lm=smk.params.lm,
        out_dir=str(Path(smk.output.best).parent),
        spatial=dict(smk.params.spatial),
        encoder=dict(smk.params.encoder),
        frames_cfg=dict(smk.params.frames),
        train={**smk.params.train, "num_workers": run_only(smk.config, "translate")["num_workers"]},
        evaluate=dict(smk.params.evaluate),
        language=smk.params.language,
        seed=int(smk.wildcards.seed),
        pretrained=smk.input.get("pretrained"),
        decode=dict(smk.params.decode),
        device=smk.config["device"],
        precision=smk.config["precision"],
    )
    if variant == "z":
        kwargs["features"] = {"train": smk.input.features_train, "dev": smk.input.features_dev}
    else:
        kwargs["frames"] = list(smk.input.frames_train) + list(smk.input.frames_dev)
    launch("sign2gpt.training.translate:run_translate", kwargs, nproc=smk.config["gpus"] or 1)
