# Data: render the synthetic corpus (embedded default), ingest a corpus into manifests, decode
# frames into sharded HDF5 stores.


if config["dataset"]["kind"] == "synthetic":

    rule synthetic_corpus:
        """Render the synthetic signing corpus in the PHOENIX-2014T release layout."""
        output:
            directory(f"{DATA}/raw"),
        log:
            f"{LOGS}/synthetic_corpus.log",
        benchmark:
            f"{BENCH}/synthetic_corpus.tsv"
        conda:
            f"{ENVS}/data.yaml"
        threads: config["synthetic"]["workers"]  # one CPU per rendering process
        resources:
            **job_memory_and_time("synthetic_corpus"),
        params:
            synthetic=config["synthetic"],
        script:
            "../scripts/stage.py"


rule prepare:
    """Ingest the corpus into one manifest TSV per split (and a list of skipped items)."""
    input:
        rules.synthetic_corpus.output if config["dataset"]["kind"] == "synthetic" else [],
    output:
        **manifests(),
        skipped=f"{DATA}/manifest/skipped.tsv",
        split=f"{DATA}/manifest/split.json",
    log:
        f"{LOGS}/prepare.log",
    benchmark:
        f"{BENCH}/prepare.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: config["decode"]["threads"]  # threads looking at the files
    resources:
        **job_memory_and_time("prepare"),
    params:
        kind=config["dataset"]["kind"],
        root=corpus_root,
        index=config["dataset"]["index"],
        skip_bad_items=config["dataset"]["skip_bad_items"],
        max_bad_frame_share=config["dataset"]["max_bad_frame_share"],
        signer_independent=config["dataset"]["signer_independent"],
    script:
        "../scripts/stage.py"


rule decode:
    """Decode one shard of a split's videos into an HDF5 frame store."""
    input:
        manifest=lambda wc: rules.prepare.output[wc.split],
    output:
        frames=f"{DATA}/frames/{{split}}/shard{{shard}}.h5",
    log:
        f"{LOGS}/decode/{{split}}-shard{{shard}}.log",
    benchmark:
        f"{BENCH}/decode/{{split}}-shard{{shard}}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    threads: config["decode"]["threads"]
    resources:
        **job_memory_and_time("decode"),
    params:
        decode=config["decode"],
        num_shards=len(SHARDS),
        skip_bad_items=config["dataset"]["skip_bad_items"],
        max_bad_frame_share=config["dataset"]["max_bad_frame_share"],
    script:
        "../scripts/stage.py"
