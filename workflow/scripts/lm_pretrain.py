"""Rule lm_pretrain (embedded default): tokenizer + small XGLM pretrained on the training text."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.data.manifest import read_manifest
from sign2gpt.lm.pretrain import pretrain_lm
from sign2gpt.app.stage_runner import run_stage

with run_stage(snakemake) as smk:  # noqa: F821
    texts = [s.text for s in read_manifest(smk.input.train)]
    p = dict(smk.params.pretrain)
    pretrain_lm(
        texts,
        smk.output[0],
        vocab_size=smk.params.vocab_size,
        config=dict(smk.params.config),
        epochs=p["epochs"],
        batch_size=p["batch_size"],
        lr=p["lr"],
        seed=p["seed"],
        threads=smk.threads,
    )
