"""Rule prepare: ingest the corpus into one manifest per split."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from pathlib import Path

from sign2gpt.data.ingest import prepare_dataset
from sign2gpt.app.stage_runner import run_stage

with run_stage(snakemake) as smk:  # noqa: F821
    prepare_dataset(
        smk.params.kind,
        smk.params.root,
        Path(smk.output.train).parent,
        skip_bad_items=smk.params.skip_bad_items,
        index=smk.params.index,
    )
