# The run report: one table of all variants (mean ± std over seeds), curves, heat maps, run card.


rule report:
    """Which videos were scored; variants × dev/test × BLEU-1..4/ROUGE-L with bootstrap intervals,
    per signer, paired tests; training curves, Figure-4 maps, run card."""
    input:
        evaluations=expand(rules.evaluate.output.metrics, seed=SEEDS, variant=VARIANTS),
        hypotheses=expand(rules.evaluate.output.test, seed=SEEDS, variant=VARIANTS),
        dev_hypotheses=expand(rules.evaluate.output.dev, seed=SEEDS, variant=VARIANTS),
        manifest_train=rules.prepare.output.train,
        manifest_dev=rules.prepare.output.dev,
        manifest_test=rules.prepare.output.test,
        prepare_skipped=rules.prepare.output.skipped,
        split=rules.prepare.output.split,
        frames_dev=frame_shards("dev"),
        frames_test=frame_shards("test"),
        baselines=rules.baselines.output.metrics,
        pretrain_metrics=expand(rules.pretrain.output.metrics, seed=SEEDS),
        localization=expand(rules.pretrain.output.localization, seed=SEEDS),
        translate_metrics=expand(rules.translate.output.metrics, seed=SEEDS, variant=VARIANTS),
        pseudo_gloss_stats=rules.pseudo_glosses.output.stats,
    output:
        md=f"{EXP_DIR}/metrics.md",
        html=report(f"{EXP_DIR}/metrics.html", caption="../report/metrics.rst", category="Results"),
        json=f"{EXP_DIR}/metrics.json",
        csv=f"{EXP_DIR}/metrics.csv",
        card=report(f"{EXP_DIR}/run_card.md", caption="../report/run_card.rst", category="Run card"),
        figures=report(
            directory(f"{EXP_DIR}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    conda:
        f"{ENVS}/report.yaml"
    resources:
        **job_memory_and_time("report"),
    params:
        benchmarks=BENCH,
        seeds=SEEDS,
        variants=VARIANTS,
        examples=config["evaluate"]["examples"],
    script:
        "../scripts/stage.py"
