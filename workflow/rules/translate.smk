# Stage 2: frozen causal LM with LoRA and zero-gated cross-attention; beam-search evaluation.


rule translate:
    """Train one translation variant: scratch (no PGP), pgp (from pretrain), z (cached features)."""
    input:
        unpack(translate_inputs),
    output:
        best=f"{RUN}/translate-{{variant}}/best.safetensors",
        metrics=f"{RUN}/translate-{{variant}}/metrics.csv",
        inference=f"{RUN}/translate-{{variant}}/inference.json",
    log:
        f"{EXP_LOGS}/translate-{{variant}}.log",
    benchmark:
        f"{EXP_BENCH}/translate-{{variant}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: job_threads("translate")
    resources:
        **job_memory_and_time("translate"),
        gpu=gpu_request("translate"),
        nodes=1,  # torchrun --standalone spreads a DDP stage over one node's GPUs
    params:
        decode=config["decode"],
        spatial=spatial_param,
        encoder=xsection("encoder"),
        train=translate_train_params,
        frames=variant_frame_params(training=True),
        lm=lm_param,
        language=config["dataset"]["language"],
        evaluate={k: config["evaluate"][k] for k in SCORING if k in config["evaluate"]},
    script:
        "../scripts/stage.py"


rule evaluate:
    """Beam search on dev and test; BLEU-1..4 and ROUGE-L with the fixed conventions."""
    input:
        unpack(evaluate_inputs),
    output:
        metrics=f"{RUN}/eval-{{variant}}/metrics.json",
        dev=f"{RUN}/eval-{{variant}}/dev.hyp.tsv",
        test=f"{RUN}/eval-{{variant}}/test.hyp.tsv",
    log:
        f"{EXP_LOGS}/evaluate-{{variant}}.log",
    benchmark:
        f"{EXP_BENCH}/evaluate-{{variant}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: job_threads("translate", distributed=False)
    resources:
        **job_memory_and_time("evaluate"),
        gpu=gpu_request("evaluate"),
    params:
        spatial=spatial_param,
        encoder=xsection("encoder"),
        train=evaluate_train_params,
        frames=variant_frame_params(training=False),
        lm=lm_param,
        language=config["dataset"]["language"],
        evaluate=section_params("evaluate"),
    script:
        "../scripts/stage.py"


rule baselines:
    """Reference rows: the most frequent training sentence, and the frozen LM with gates shut."""
    input:
        train=rules.prepare.output.train,
        dev=rules.prepare.output.dev,
        test=rules.prepare.output.test,
        lm=lm_input(),
    output:
        metrics=f"{EXP_DIR}/baselines/metrics.json",
    log:
        f"{LOGS}/baselines.log",
    benchmark:
        f"{BENCH}/baselines.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: job_threads()
    resources:
        **job_memory_and_time("baselines"),
        gpu=gpu_request("baselines"),
    params:
        lm=lm_param,
        language=config["dataset"]["language"],
        evaluate=section_params("evaluate"),
    script:
        "../scripts/stage.py"
