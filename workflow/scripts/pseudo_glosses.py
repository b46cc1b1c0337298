"""Rule pseudo_glosses: per-sentence pseudo-glosses, vocabulary, frequency cut, stats."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.data.manifest import read_manifest
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.text.pseudo_glosses import run_pseudo_glosses

with run_stage(snakemake) as smk:  # noqa: F821
    sentences = {split: [s.text for s in read_manifest(smk.input[split])] for split in ("train", "dev", "test")}
    cfg = smk.params.cfg
    run_pseudo_glosses(
        sentences,
        smk.output.json,
        smk.output.stats,
        language=smk.params.language,
        pipeline=cfg["pipeline"],
        vocab_from=cfg["vocab_from"],
        max_frequency=cfg["max_frequency"],
    )
