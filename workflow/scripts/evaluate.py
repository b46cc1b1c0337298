"""Rule evaluate: beam search on dev and test, BLEU-1..4 and ROUGE-L."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.evaluation.evaluate import run_evaluate
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.core.settings import run_only

with run_stage(snakemake) as smk:  # noqa: F821
    variant = smk.wildcards.variant
    splits = ("dev", "test")
    run_evaluate(
        variant=variant,
        checkpoint=smk.input.checkpoint,
        manifests={s: smk.input[s] for s in splits},
        lm=smk.params.lm,
        spatial=dict(smk.params.spatial),
        encoder=dict(smk.params.encoder),
        frames_cfg=dict(smk.params.frames),
        train={**smk.params.train, "num_workers": run_only(smk.config, "translate")["num_workers"]},
        evaluate=dict(smk.params.evaluate),
        language=smk.params.language,
        out_metrics=smk.output.metrics,
        out_hyps={s: smk.output[s] for s in splits},
        seed=int(smk.wildcards.seed),
        frames={s: list(smk.input[f"frames_{s}"]) for s in splits} if variant != "z" else None,
        features={s: smk.input[f"features_{s}"] for s in splits} if variant == "z" else None,
        pretrained=smk.input.get("pretrained"),
        device=smk.config["device"],
        precision=smk.config["precision"],
    )
