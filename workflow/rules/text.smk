# Text side of pretraining: pseudo-glosses (spaCy + HanTa / jieba) and fastText prototypes.


# {text}: "text" (results/<dataset>/text/), or in an ablation set "<experiment>/text" for the rows
# whose pseudo_glosses settings differ from the base configuration's (core/ablation.py).
rule pseudo_glosses:
    """Pseudo-glosses per sentence, the vocabulary and the frequency cut."""
    input:
        unpack(authors_pseudo_gloss_file),
        **{split: rules.prepare.output[split] for split in SPLITS},
    output:
        json=f"{DATA}/{{text}}/pseudo_glosses.json",
        stats=f"{DATA}/{{text}}/pseudo_gloss_stats.json",
    log:
        f"{LOGS}/{{text}}/pseudo_glosses.log",
    benchmark:
        f"{BENCH}/{{text}}/pseudo_glosses.tsv"
    conda:
        f"{ENVS}/text.yaml"
    resources:
        **job_memory_and_time("pseudo_glosses"),
    params:
        language=config["dataset"]["language"],
        cfg=section_params("pseudo_glosses"),
    script:
        "../scripts/stage.py"


if not config["prototypes"]["fasttext"]:

    rule fasttext:
        """Embedded default only: a skipgram fastText model trained on the training text."""
        input:
            train=rules.prepare.output.train,
        output:
            f"{DATA}/text/fasttext.bin",
        log:
            f"{LOGS}/fasttext.log",
        benchmark:
            f"{BENCH}/fasttext.tsv"
        conda:
            f"{ENVS}/text.yaml"
        resources:
            **job_memory_and_time("fasttext"),
        params:
            language=config["dataset"]["language"],
            dim=config["prototypes"]["dim"],
            train=config["prototypes"]["train"],
        script:
            "../scripts/stage.py"


rule prototypes:
    """One fastText vector per pseudo-gloss, plus the zero prototype."""
    input:
        pseudo_glosses=rules.pseudo_glosses.output.json,
        fasttext=fasttext_bin(),
    output:
        f"{DATA}/{{text}}/prototypes.safetensors",
    log:
        f"{LOGS}/{{text}}/prototypes.log",
    benchmark:
        f"{BENCH}/{{text}}/prototypes.tsv"
    conda:
        f"{ENVS}/text.yaml"
    resources:
        **job_memory_and_time("prototypes"),
    script:
        "../scripts/stage.py"
