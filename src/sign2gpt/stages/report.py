"""The run's report.

Each function is what one rule runs (`sign2gpt.app.rules.RULES`), given the rule's `snakemake`
object: it hands the rule's files and params to the package."""

from __future__ import annotations

from typing import Any

from sign2gpt.report.ablation import build_ablation, write_ablation
from sign2gpt.report.build import ReportInputs, ReportOutputs, build_report


def report(smk: Any) -> None:
    """Rule report: tables, figures and run card of the configured run."""
    seeds, variants = [int(s) for s in smk.params.seeds], list(smk.params.variants)
    runs = [(v, s) for s in seeds for v in variants]  # the order of expand(..., seed=SEEDS, variant=VARIANTS)
    inputs = ReportInputs(
        evaluations=dict(zip(runs, smk.input.evaluations, strict=True)),
        hypotheses=dict(zip(runs, smk.input.hypotheses, strict=True)),
        dev_hypotheses=dict(zip(runs, smk.input.dev_hypotheses, strict=True)),
        translate_metrics=dict(zip(runs, smk.input.translate_metrics, strict=True)),
        pretrain_metrics=dict(zip(seeds, smk.input.pretrain_metrics, strict=True)),
        localization=dict(zip(seeds, smk.input.localization, strict=True)),
        baselines=smk.input.baselines,
        pseudo_gloss_stats=smk.input.pseudo_gloss_stats,
        benchmarks_dirs=list(smk.params.benchmarks),
        manifests={split: smk.input[f"manifest_{split}"] for split in ("train", "dev", "test")},
        prepare_skipped=smk.input.prepare_skipped,
        split=smk.input.split,
        frames={split: list(smk.input[f"frames_{split}"]) for split in ("dev", "test")},
    )
    out = ReportOutputs(md=smk.output.md, json=smk.output.json, csv=smk.output.csv, html=smk.output.html,
                        card=smk.output.card, figures=smk.output.figures)
    build_report(inputs, out, config=smk.config, variants=variants, examples=int(smk.params.examples))


def ablation_table(smk: Any) -> None:
    """Rule ablation_table: the ablation set's tables (intervals, the paper's figures, paired tests)."""
    result = build_ablation(smk.params.spec, smk.params.files, smk.params.seeds)
    write_ablation(result, md=smk.output.md, csv_path=smk.output.csv, json_path=smk.output.json, html=smk.output.html)
