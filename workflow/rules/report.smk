# The run report: one table of all variants (mean ± std over seeds), curves, heat maps, run card.


rule report:
    """Which videos were scored; variants × dev/test × BLEU-1..4/ROUGE-L with bootstrap intervals,
    per signer, paired tests; training curves, Figure-4 maps, run card."""
    input:
        evaluations=expand(rules.evaluate.output.metrics, experiment=config["experiment"], seed=SEEDS, variant=VARIANTS),
        hypotheses=expand(rules.evaluate.output.test, experiment=config["experiment"], seed=SEEDS, variant=VARIANTS),
        dev_hypotheses=expand(rules.evaluate.output.dev, experiment=config["experiment"], seed=SEEDS, variant=VARIANTS),
        manifest_train=rules.prepare.output.train,
        manifest_dev=rules.prepare.output.dev,
        manifest_test=rules.prepare.output.test,
        prepare_skipped=rules.prepare.output.skipped,
        split=rules.prepare.output.split,
        frames_dev=frame_shards("dev"),
        frames_test=frame_shards("test"),
        baselines=rules.baselines.output.metrics,
        pretrain_metrics=expand(rules.pretrain.output.metrics, experiment=config["experiment"], seed=SEEDS),
        localization=expand(rules.pretrain.output.localization, experiment=config["experiment"], seed=SEEDS),
        translate_metrics=expand(
            rules.translate.output.metrics, experiment=config["experiment"], seed=SEEDS, variant=VARIANTS
        ),
        pseudo_gloss_stats=rules.pseudo_glosses.output.stats.format(text=ablation.TEXT_HOME),
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
        benchmarks=[BENCH, f"{EXP_DIR}/benchmarks"],
        seeds=SEEDS,
        variants=VARIANTS,
        examples=config["evaluate"]["examples"],
    script:
        "../scripts/stage.py"


if config.get("ablation"):

    rule ablation_table:
        """The ablation set's tables: each row beside the paper's figure, with intervals and the
        paired test against the full method (sign2gpt.report.ablation)."""
        input:
            ablation_inputs(),
        output:
            md=f"{DATA}/{config['ablation']['name']}/ablation.md",
            csv=f"{DATA}/{config['ablation']['name']}/ablation.csv",
            json=f"{DATA}/{config['ablation']['name']}/ablation.json",
            html=report(
                f"{DATA}/{config['ablation']['name']}/ablation.html",
                caption="../report/ablation.rst",
                category="Ablation",
            ),
        log:
            f"{LOGS}/{config['ablation']['name']}/ablation_table.log",
        benchmark:
            f"{DATA}/{config['ablation']['name']}/benchmarks/ablation_table.tsv"
        conda:
            f"{ENVS}/report.yaml"
        resources:
            **job_memory_and_time("report"),
        params:
            spec=config["ablation"],
            files=ablation_files(),
            seeds=SEEDS,
        script:
            "../scripts/stage.py"
