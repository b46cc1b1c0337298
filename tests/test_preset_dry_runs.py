"""Dry runs of the preset branches (phoenix14t, csldaily, how2sign, folder) on committed fixtures.

The end-to-end tests run only the embedded default, and the paper-scale rehearsals are slow; a
rule change that drops, duplicates or adds a job for one preset would otherwise show first on a
cluster. `snakemake -n --configfile configs/<preset>.yaml .test/<preset>-dry-run.yaml` plans a
preset's whole DAG in seconds without its corpus or weights: each overlay only points
dataset.root at a tiny release-layout fixture (.test/dry-run/) and, for the paper presets, the
fastText .bin at an empty stand-in (the one external file Snakemake checks). The expected job
tables are worked out by hand from each preset, so changing a preset's shards, seeds or variants
means updating them here too.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from test_workflow import REPO, snakemake

PLACEHOLDER = ".test/dry-run/fasttext-placeholder.bin"
SPLITS = ("train", "dev", "test")
VARIANTS = ("scratch", "pgp", "z")  # translate.variants of every preset (the folder one: config.yaml's)

# The jobs every preset plans. Per seed: one pretrain; cache_features for train, dev and test (z
# trains on train + dev features and is evaluated on dev + test); one translate and one evaluate per
# variant. Once per run: prepare, pseudo_glosses, prototypes, baselines, report, all.
EVERY_PRESET = {"prepare": 1, "pseudo_glosses": 1, "prototypes": 1, "pretrain": 1, "cache_features": 3,
                "translate": 3, "evaluate": 3, "baselines": 1, "report": 1, "all": 1}

PRESETS = {
    # decode: 3 splits × decode.shards 16. No fasttext (prototypes.fasttext is a .bin), lm_pretrain
    # (lm.pretrained: facebook/xglm-1.7B), spatial_pretrain (spatial.pretrained: facebook/dinov2-small).
    "phoenix14t": {"name": "phoenix14t", "experiment": "paper", "shards": 16,
                   "jobs": {**EVERY_PRESET, "decode": 3 * 16}},
    # decode: 3 splits × decode.shards 32; otherwise as phoenix14t.
    "csldaily": {"name": "csldaily", "experiment": "paper", "shards": 32, "jobs": {**EVERY_PRESET, "decode": 3 * 32}},
    # decode: 3 splits × decode.shards 64; otherwise as phoenix14t.
    "how2sign": {"name": "how2sign", "experiment": "paper", "shards": 64, "jobs": {**EVERY_PRESET, "decode": 3 * 64}},
    # decode: 3 splits × config.yaml's decode.shards 2. It keeps config.yaml's small models, which the
    # workflow makes itself: fasttext (prototypes.fasttext: null), lm_pretrain (lm.pretrained: null),
    # spatial_pretrain (spatial.pretrained: null, spatial.pretrain set).
    "video-folder": {"name": "my-videos", "experiment": "default", "shards": 2,
                     "jobs": {**EVERY_PRESET, "decode": 3 * 2, "fasttext": 1, "lm_pretrain": 1, "spatial_pretrain": 1}},
}
# Jobs that exist only for the embedded default (or a preset that keeps its models): never for a
# paper preset. synthetic_corpus exists only for dataset.kind: synthetic, so for no preset.
DEFAULT_ONLY = {"synthetic_corpus", "fasttext", "lm_pretrain", "spatial_pretrain"}
# The keys each overlay may change: the dataset root and the one external model file a dry run needs.
OVERLAY_KEYS = {"phoenix14t": {"dataset.root", "prototypes.fasttext"},
                "csldaily": {"dataset.root", "prototypes.fasttext"},
                "how2sign": {"dataset.root", "prototypes.fasttext"},
                "video-folder": {"dataset.root"}}


def overlay(preset: str) -> Path:
    return REPO / ".test" / f"{preset}-dry-run.yaml"


def jobs_of(dry_run_output: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """Each planned job of a dry run as (rule, wildcards, outputs)."""
    jobs = []
    for block in re.split(r"^(?:local)?rule ", dry_run_output, flags=re.MULTILINE)[1:]:
        rule, _, body = block.partition(":\n")
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, flags=re.MULTILINE))
        wildcards = dict(w.split("=", 1) for w in fields["wildcards"].split(", ")) if "wildcards" in fields else {}
        jobs.append((rule, wildcards, fields["output"].split(", ") if "output" in fields else []))
    return jobs


def flat_keys(tree: dict, prefix: str = "") -> set[str]:
    return set().union(*[flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
                         for k, v in tree.items()])


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_dry_run_plans_exactly_its_jobs(preset, tmp_path, planned_jobs):
    expected = PRESETS[preset]
    (tmp_path / ".test").symlink_to(REPO / ".test")  # the overlays' paths are relative to the repository
    # this --configfile replaces the helper's .test/config.yaml: the preset alone on config.yaml
    proc = snakemake("-n", "--configfile", str(REPO / "configs" / f"{preset}.yaml"), str(overlay(preset)), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    table = planned_jobs(out)
    assert table == expected["jobs"], f"{preset}: planned {table}, expected {expected['jobs']}"
    unneeded = (DEFAULT_ONLY - set(expected["jobs"])) & set(table)
    assert not unneeded, f"{preset} plans jobs it does not need: {sorted(unneeded)}"

    jobs = jobs_of(out)
    assert len(jobs) == sum(table.values())
    by_rule = {rule: [wc for r, wc, _ in jobs if r == rule] for rule in table}
    assert sorted((wc["split"], int(wc["shard"])) for wc in by_rule["decode"]) == sorted(
        itertools.product(SPLITS, range(expected["shards"])))  # every shard of every split, once
    assert sorted(wc["split"] for wc in by_rule["cache_features"]) == sorted(SPLITS)
    for rule in ("translate", "evaluate"):
        assert sorted((wc["seed"], wc["variant"]) for wc in by_rule[rule]) == sorted(("1", v) for v in VARIANTS)
    # every output belongs to this preset's dataset, and the run's to its experiment (not the
    # embedded default's synthetic-de, nor .test/config.yaml's synthetic-test/test)
    data, exp = f"results/{expected['name']}/", f"results/{expected['name']}/{expected['experiment']}/"
    outputs = [path for _, _, paths in jobs for path in paths]
    assert outputs and all(p.startswith(data) for p in outputs), [p for p in outputs if not p.startswith(data)]
    for rule in ("pretrain", "cache_features", "translate", "evaluate", "report", "baselines"):
        assert all(p.startswith(exp) for r, _, paths in jobs if r == rule for p in paths), rule


@pytest.mark.parametrize("preset", PRESETS)
def test_overlay_changes_only_the_data_and_fasttext_paths(preset):
    """The dry run tests the preset, not the overlay: the overlay moves only paths."""
    with open(overlay(preset), encoding="utf-8") as f:
        tree = yaml.safe_load(f)
    assert flat_keys(tree) == OVERLAY_KEYS[preset]
    if "prototypes" in tree:  # the stand-in is empty: no one can take it for fastText vectors
        assert tree["prototypes"]["fasttext"] == PLACEHOLDER and (REPO / PLACEHOLDER).stat().st_size == 0


@pytest.mark.parametrize("preset", PRESETS)
def test_fixture_is_a_release_layout_that_prepare_ingests(preset, tmp_path):
    """A dry run reads no dataset file; ingesting the fixture keeps it the real layout."""
    from sign2gpt.core.config import load_config
    from sign2gpt.data.ingest import prepare_dataset

    ds = load_config(REPO / "configs" / f"{preset}.yaml", overlay(preset))["dataset"]
    samples = prepare_dataset(ds["kind"], REPO / ds["root"], tmp_path, skip_bad_items=False,
                              index=ds.get("index", "index.csv"))
    assert {split: len(s) for split, s in samples.items()} == {split: 2 for split in SPLITS}
    assert all(s.num_frames == 1 and s.text for split in SPLITS for s in samples[split])
    assert (tmp_path / "skipped.tsv").read_text().splitlines() == ["split\tid\tsource\treason"]
