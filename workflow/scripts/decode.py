"""Rule decode: one shard of a split's videos into an HDF5 frame store."""
import sys; sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: E702,F821
from sign2gpt.data.decode import decode_shard
from sign2gpt.app.stage_runner import run_stage
from sign2gpt.core.job_resources import job_cpus

with run_stage(snakemake) as smk:  # noqa: F821
    cfg = smk.params.decode
    decode_shard(
        smk.input.manifest,
        smk.output[0],
        shard=int(smk.wildcards.shard),
        num_shards=smk.params.num_shards,
        stride=cfg["stride"],
        size=cfg["size"],
        storage=cfg["storage"],
        jpeg_quality=cfg["jpeg_quality"],
        skip_bad_items=smk.params.skip_bad_items,
        threads=job_cpus(smk.threads) or 1,
    )
