"""Rule fasttext (embedded default): a skipgram model trained on the training-split text."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.data.manifest import read_manifest
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.text.fasttext_model import train_fasttext

with run_stage(snakemake) as smk:  # noqa: F821
    texts = [s.text for s in read_manifest(smk.input.train)]
    train_fasttext(texts, smk.output[0], language=smk.params.language, dim=smk.params.dim, **dict(smk.params.train))
