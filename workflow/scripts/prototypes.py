"""Rule prototypes: one fastText vector per pseudo-gloss plus the zero prototype."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.text.prototypes import run_prototypes

with run_stage(snakemake) as smk:  # noqa: F821
    run_prototypes(smk.input.pseudo_glosses, smk.output[0], fasttext_bin=smk.input.fasttext)
