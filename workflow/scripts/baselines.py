"""Rule baselines: the text-only and gates-shut reference rows."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.evaluation.evaluate import run_baselines
from sign2gpt.app.stage_runner import run_stage

with run_stage(snakemake) as smk:  # noqa: F821
    run_baselines(
        manifests={s: smk.input[s] for s in ("train", "dev", "test")},
        lm=smk.params.lm,
        language=smk.params.language,
        evaluate=dict(smk.params.evaluate),
        out_metrics=smk.output.metrics,
        device=smk.config["device"],
        precision=smk.config["precision"],
    )
