# Stage 1: pseudo-gloss pretraining of the spatial model + sign encoder; then the Z cache.
# Embedded default: first the workflow makes its own pretrained backbone (self-supervised, from the
# unlabelled training frames), saved with save_pretrained, as the presets load facebook/dinov2-small.

if not config["spatial"]["pretrained"] and config["spatial"].get("pretrain"):

    rule spatial_pretrain:
        """Time-contrastive self-supervised pretraining of the spatial backbone."""
        input:
            train=rules.prepare.output.train,
            frames=frame_shards("train"),
        output:
            directory(f"{DATA}/spatial"),
        log:
            f"{LOGS}/spatial_pretrain.log",
        benchmark:
            f"{BENCH}/spatial_pretrain.tsv"
        conda:
            f"{ENVS}/torch.yaml"
        threads: job_threads()
        resources:
            **job_memory_and_time("spatial_pretrain"),
            gpu=gpu_request("spatial_pretrain"),
        params:
            spatial=config["spatial"],
        script:
            "../scripts/stage.py"


rule frame_features:
    """A frozen backbone's pooled feature of every stored frame of a split, once: the stages of an
    experiment that freezes its backbone without augmentation read it instead of the frames."""
    input:
        frames=lambda wc: frame_shards(wc.split),
        spatial=lambda wc: spatial_input(xconfig(wc)),
    output:
        f"{DATA}/{{experiment}}/frame_features/{{split}}.h5",
    log:
        f"logs/{DS}/{{experiment}}/frame_features-{{split}}.log",
    benchmark:
        f"{DATA}/{{experiment}}/benchmarks/frame_features-{{split}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: job_threads("pretrain", distributed=False)
    resources:
        **job_memory_and_time("cache_features"),
        gpu=gpu_request("frame_features"),
    params:
        spatial=spatial_param,
    script:
        "../scripts/stage.py"


rule pretrain:
    """Pseudo-gloss pretraining (multi-label BCE on pseudo-gloss presence)."""
    input:
        unpack(lambda wc: {f"frames_{s}": frame_inputs(wc, s) for s in ("train", "dev")}),
        train=rules.prepare.output.train,
        dev=rules.prepare.output.dev,
        pseudo_glosses=lambda wc: text_file("pseudo_glosses.json", wc.experiment),
        prototypes=lambda wc: text_file("prototypes.safetensors", wc.experiment),
        spatial=lambda wc: spatial_input(xconfig(wc)),
    output:
        best=f"{RUN}/pretrain/best.safetensors",
        metrics=f"{RUN}/pretrain/metrics.csv",
        localization=f"{RUN}/pretrain/localization.json",
    log:
        f"{EXP_LOGS}/pretrain.log",
    benchmark:
        f"{EXP_BENCH}/pretrain.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: job_threads("pretrain")
    resources:
        **job_memory_and_time("pretrain"),
        gpu=gpu_request("pretrain"),
        nodes=1,  # torchrun --standalone spreads a DDP stage over one node's GPUs
    params:
        spatial=spatial_param,
        encoder=xsection("encoder"),
        head=xsection("pgp_head"),
        frames=frame_params(training=True),
        train=section_params("pretrain"),
        language=config["dataset"]["language"],
    script:
        "../scripts/stage.py"


rule cache_features:
    """Run the frozen pretrained encoder once per video (eval mode) and store Z in HDF5."""
    input:
        checkpoint=rules.pretrain.output.best,
        manifest=lambda wc: rules.prepare.output[wc.split],
        frames=lambda wc: frame_shards(wc.split),
        spatial=lambda wc: spatial_input(xconfig(wc)),
    output:
        f"{RUN}/features/{{split}}.h5",
    log:
        f"{EXP_LOGS}/cache_features-{{split}}.log",
    benchmark:
        f"{EXP_BENCH}/cache_features-{{split}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: job_threads("pretrain", distributed=False)
    resources:
        **job_memory_and_time("cache_features"),
        gpu=gpu_request("cache_features"),
    params:
        spatial=spatial_param,
        encoder=xsection("encoder"),
        frames=frame_params(training=False),
    script:
        "../scripts/stage.py"
