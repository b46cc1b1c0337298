"""Stage 2: training a variant, evaluating it, the reference rows.

Each function is what one rule runs (`sign2gpt.app.rules.RULES`), given the rule's `snakemake`
object: it hands the rule's files and params to the package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sign2gpt.core.settings import run_only
from sign2gpt.evaluation.evaluate import run_baselines, run_evaluate
from sign2gpt.training.launch import launch


def _variant(smk: Any) -> dict[str, Any]:
    """What translate and evaluate both hand over of one variant: its models, sections and seed."""
    return dict(
        variant=smk.wildcards.variant,
        lm=smk.params.lm,
        spatial=dict(smk.params.spatial),
        encoder=dict(smk.params.encoder),
        frames_cfg=dict(smk.params.frames),
        train={**smk.params.train, **run_only(smk.config, "translate")},  # run-only: how, not what
        evaluate=dict(smk.params.evaluate),
        language=smk.params.language,
        seed=int(smk.wildcards.seed),
        pretrained=smk.input.get("pretrained"),
        device=smk.config["device"],
        precision=smk.config["precision"],
    )


def translate(smk: Any) -> None:
    """Rule translate: train one variant (torchrun on several GPUs)."""
    variant = smk.wildcards.variant
    kwargs = dict(
        **_variant(smk),
        train_manifest=smk.input.train,
        dev_manifest=smk.input.dev,
        out_dir=str(Path(smk.output.best).parent),
        decode=dict(smk.params.decode),
    )
    if variant == "z":
        kwargs["features"] = {"train": smk.input.features_train, "dev": smk.input.features_dev}
    else:
        kwargs["frames"] = list(smk.input.frames_train) + list(smk.input.frames_dev)
    launch("sign2gpt.training.translate:run_translate", kwargs, nproc=smk.config["gpus"] or 1, log_file=smk.log[0])


def evaluate(smk: Any) -> None:
    """Rule evaluate: beam search on dev and test, BLEU-1..4 and ROUGE-L."""
    variant = smk.wildcards.variant
    splits = ("dev", "test")
    run_evaluate(
        **_variant(smk),
        checkpoint=smk.input.checkpoint,
        manifests={s: smk.input[s] for s in splits},
        out_metrics=smk.output.metrics,
        out_hyps={s: smk.output[s] for s in splits},
        frames={s: list(smk.input[f"frames_{s}"]) for s in splits} if variant != "z" else None,
        features={s: smk.input[f"features_{s}"] for s in splits} if variant == "z" else None,
    )


def baselines(smk: Any) -> None:
    """Rule baselines: the text-only and gates-shut reference rows."""
    run_baselines(
        manifests={s: smk.input[s] for s in ("train", "dev", "test")},
        lm=smk.params.lm,
        language=smk.params.language,
        evaluate=dict(smk.params.evaluate),
        out_metrics=smk.output.metrics,
        device=smk.config["device"],
        precision=smk.config["precision"],
    )
