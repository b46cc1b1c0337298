"""Rule report: tables, figures and run card of the configured run."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.report.build import build_report
from sign2gpt.app.stage_runner import run_stage

with run_stage(snakemake) as smk:  # noqa: F821
    build_report(
        evaluations=list(smk.input.evaluations),
        hypotheses=list(smk.input.hypotheses),
        baselines=smk.input.baselines,
        pretrain_metrics=list(smk.input.pretrain_metrics),
        localization=list(smk.input.localization),
        translate_metrics=list(smk.input.translate_metrics),
        pseudo_gloss_stats=smk.input.pseudo_gloss_stats,
        benchmarks_dir=smk.params.benchmarks,
        config=smk.config,
        variants=smk.params.variants,
        examples=int(smk.params.examples),
        out_md=smk.output.md,
        out_json=smk.output.json,
        out_csv=smk.output.csv,
        out_html=smk.output.html,
        out_card=smk.output.card,
        figures_dir=smk.output.figures,
    )
