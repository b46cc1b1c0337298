"""Ablation sets (`ablation:`, sign2gpt.core.ablation) and their table (sign2gpt.report.ablation).

What is checked: which experiments a set runs and which stages they share (a row that changes only
the translation reuses the full method's pretraining; a row with other pseudo-glosses gets its own
text stages and pretraining; a scratch-only row trains no pretraining); the overlays a row may not
make; the table's cells, intervals, paired tests and the paper's direction, from files whose scores
are known; the dry runs of the default's and the presets' sets (exactly the jobs each needs); and,
slow, the tiny two-row set end to end in the finished tiny run's folder (in tests/test_workflow.py,
beside that run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_workflow import REPO, snakemake

from sign2gpt.core.ablation import TEXT_HOME, experiments
from sign2gpt.core.config import deep_merge, load_config
from sign2gpt.core.errors import ConfigError
from sign2gpt.core.io import write_json, write_text
from sign2gpt.evaluation.hypotheses import hypotheses_tsv
from sign2gpt.evaluation.localization import combine_localization, resampled_localization
from sign2gpt.evaluation.significance import bootstrap_intervals, corpus_scores
from sign2gpt.report.ablation import build_ablation, render_csv, render_markdown

SETS = REPO / "configs" / "ablations"


def set_config(*files: Path) -> dict:
    return load_config(*files)


def with_set(base: dict, ablation: dict) -> dict:
    return deep_merge(base, {"ablation": ablation})


def test_without_a_set_the_run_is_one_experiment_its_own_home():
    config = set_config()
    exps = experiments(config)
    assert list(exps) == ["default"]
    exp = exps["default"]
    assert (exp.text_home, exp.pretrain_home, exp.variants) == (TEXT_HOME, "default", ("scratch", "pgp", "z"))


def test_the_default_set_shares_what_its_rows_do_not_change():
    exps = experiments(set_config(SETS / "default-table4.yaml"))
    assert list(exps) == [f"table4/{r}" for r in ("full", "frozen-backbone", "global-attention", "no-downsampling",
                                                     "pe-none", "pe-learned-zero", "pe-learned-random",
                                                     "no-sign-encoder", "all-words")]
    full = exps["table4/full"]
    assert full.variants == ("pgp", "scratch") and full.localization and full.pretrain_home == "table4/full"
    for row in ("pe-none", "pe-learned-zero", "pe-learned-random"):  # translation only: the full method's
        exp = exps[f"table4/{row}"]
        assert exp.variants == ("pgp",) and exp.pretrain_home == "table4/full" and exp.text_home == TEXT_HOME
        assert exp.config["translate"]["memory_pe"] == row.removeprefix("pe-").replace("-", "_")
    frozen = exps["table4/frozen-backbone"]
    assert frozen.variants == ("scratch",) and not frozen.pretrains  # no pretraining at all
    assert exps["table4/no-sign-encoder"].pretrain_home == "table4/no-sign-encoder"  # the encoder changes
    words = exps["table4/all-words"]
    assert (words.text_home, words.pretrain_home) == ("table4/all-words/text", "table4/all-words")
    assert words.config["pseudo_glosses"]["words"] == "all" and words.variants == ()
    assert all(e.config["experiment"] == name for name, e in exps.items())


def two_rows(**overlay) -> dict:
    return {"name": "s", "experiments": {"full": {}, "other": overlay},
            "tables": [{"title": "t", "kind": "translation", "variant": "pgp", "metrics": ["bleu4"],
                        "reference": "full", "rows": [{"experiment": "full"}, {"experiment": "other"}]}]}


@pytest.mark.parametrize("overlay, message", [
    ({"dataset": {"name": "x"}}, "may not change 'dataset'"),
    ({"decode": {"size": 32}}, "may not change 'decode'"),
    ({"translate": {"num_workers": 2}}, "translate.num_workers': the whole set shares it"),
    ({"pretrain": {"micro_batch_size": 2}}, "pretrain.micro_batch_size': the whole set shares it"),
    ({"spatial": {"pretrain": {"epochs": 1}}}, "spatial.pretrain': the whole set shares it"),
    ({"lm": {"pretrained": None}}, "lm.pretrained': a row may name another pretrained LM"),
    ({"spatial": {"pretrained": None}}, "spatial.pretrained': a row may name another pretrained backbone"),
    ({"lm": {"vocab_size": 10}}, "lm.vocab_size': the whole set shares it"),
    ({"encoder": {"heads": 3}}, "ablation row 'other'"),  # 128 is not divisible by 3: the row is named
])
def test_refused_overlays_name_the_row_and_key(overlay, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        experiments(with_set(set_config(), two_rows(**overlay)))


def test_a_set_may_not_take_the_name_of_a_dataset_folder():
    with pytest.raises(ConfigError, match="'frames' is a folder of the dataset's stages"):
        experiments(with_set(set_config(), {**two_rows(translate={"memory_pe": "none"}), "name": "frames"}))


def test_a_table_must_name_known_rows_and_every_row_must_be_used():
    bad = two_rows(translate={"memory_pe": "none"})
    bad["tables"][0]["rows"].append({"experiment": "missing"})
    with pytest.raises(ConfigError, match="'missing' is not one of ablation.experiments"):
        experiments(with_set(set_config(), bad))
    unused = two_rows(translate={"memory_pe": "none"})
    unused["experiments"]["idle"] = {}
    with pytest.raises(ConfigError, match=r"\['idle'\] appear in no table"):
        experiments(with_set(set_config(), unused))
    wrong = two_rows(translate={"memory_pe": "none"})
    wrong["tables"][0]["metrics"] = ["f1"]
    with pytest.raises(ConfigError, match="are not translation metrics"):
        experiments(with_set(set_config(), wrong))


@pytest.mark.parametrize("name", ["default-table4", "phoenix14t-table4", "csldaily-backbone"])
def test_committed_sets_validate_on_their_base(name):
    base = {"default-table4": [], "phoenix14t-table4": [REPO / "configs" / "phoenix14t.yaml"],
            "csldaily-backbone": [REPO / "configs" / "csldaily.yaml"]}[name]
    config = set_config(*base, SETS / f"{name}.yaml")
    exps = experiments(config)
    for table in config["ablation"]["tables"]:  # every row carries the paper's figure of each metric
        for row in table["rows"]:
            assert set(row["paper"]) == set(table["metrics"]), (name, row)
    assert all(e.config["dataset"] == config["dataset"] for e in exps.values())


# ----------------------------------------------------------------------------- the table
REFS = [f"am tag {i} regen und wind aus west" for i in range(40)]


def write_run(folder: Path, hyps: list[str]) -> dict:
    """A translation run's evaluate outputs with these test (and dev) hypotheses, scored for real."""
    ids = [f"v{i:03d}" for i in range(len(REFS))]
    out = {}
    splits = {}
    for split in ("dev", "test"):
        scores = corpus_scores(hyps, REFS)
        splits[split] = {**scores, "intervals": bootstrap_intervals(hyps, REFS),
                         "conventions": {"language": "de", "lowercase": False, "strip_final_period": True}}
        out[split] = str(folder / f"{split}.hyp.tsv")
        write_text(out[split], hypotheses_tsv(ids, dict(zip(ids, REFS)), dict(zip(ids, hyps))))
    out["metrics"] = str(folder / "metrics.json")
    write_json(out["metrics"], {"splits": splits})
    return out


def test_table_cells_tests_and_the_papers_direction(tmp_path):
    good = list(REFS)
    worse = [r if i % 2 else "am tag regen" for i, r in enumerate(REFS)]
    files = {"translation": {}, "localization": {}}
    for name, hyps in (("full", good), ("pe-none", worse), ("pe-zero", good)):
        files["translation"][name] = {"pgp": {"1": write_run(tmp_path / name, hyps)}}
    spec = {"name": "s", "tables": [{
        "title": "PE", "kind": "translation", "variant": "pgp", "split": "test", "metrics": ["bleu4"],
        "reference": "full", "rows": [{"experiment": "pe-none", "paper": {"bleu4": 21.68}},
                                      {"experiment": "pe-zero", "paper": {"bleu4": 21.89}},
                                      {"experiment": "full", "paper": {"bleu4": 23.20}}]}]}
    result = build_ablation(spec, files, [1])
    rows = {r["experiment"]: r for r in result["tables"][0]["rows"]}
    assert rows["full"]["ours"]["test"]["bleu4"]["mean"] == 100.0 and rows["full"]["vs_reference"] is None
    cell = rows["pe-none"]["ours"]["test"]["bleu4"]["seeds"]["1"]
    assert cell["low"] <= cell["score"] <= cell["high"] < 100.0
    worse_vs = rows["pe-none"]["vs_reference"]["bleu4"]
    assert worse_vs["seeds"]["1"]["delta"] < -10 and worse_vs["seeds"]["1"]["p"] < 0.05
    assert (worse_vs["paper_delta"], worse_vs["paper_direction_beyond_chance"]) == (-1.52, 1)
    same = rows["pe-zero"]["vs_reference"]["bleu4"]  # identical output: no difference, not beyond chance
    assert same["seeds"]["1"] == {"delta": 0.0, "p": 1.0} and same["paper_direction_beyond_chance"] == 0
    md = render_markdown(result)
    assert "| Row | Paper BLEU-4 | Ours test BLEU-4 | BLEU-4 − full (paired) |" in md and "21.68" in md
    assert "-40.70 (p 0.001); paper -1.52: its way 1/1, other way 0/1" in md
    lines = render_csv(result).splitlines()
    assert len(lines) == 1 + 3 and lines[1].startswith("PE,pe-none,pe-none,test,bleu4,21.68,")


def test_localization_resampling_is_the_micro_average():
    videos = [{"tp": 3, "predicted": 4, "true": 6}, {"tp": 1, "predicted": 5, "true": 2}, {"tp": 0, "predicted": 0,
                                                                                           "true": 3}]
    whole = resampled_localization(videos, np.array([[0, 1, 2], [2, 2, 2]]))
    expected = combine_localization(videos)
    assert [whole[m][0] for m in ("precision", "recall", "f1")] == pytest.approx(
        [expected["precision"], expected["recall"], expected["f1"]])
    assert [whole[m][1] for m in ("precision", "recall", "f1")] == [0.0, 0.0, 0.0]  # nothing predicted


# ----------------------------------------------------------------------------- dry runs
def dry_run(tmp_path, planned_jobs, *configfiles: Path) -> tuple[dict, str]:
    (tmp_path / ".test").symlink_to(REPO / ".test")
    proc = snakemake("-n", "--configfile", *map(str, configfiles), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    return planned_jobs(out), out


def test_default_set_dry_run_plans_each_stage_once(tmp_path, planned_jobs):
    table, out = dry_run(tmp_path, planned_jobs, REPO / "config.yaml", SETS / "default-table4.yaml")
    # pretraining: full (shared by the three PE rows), no-sign-encoder, all-words; text stages: the
    # base's and all-words'; translate/evaluate: 4 scratch rows + 4 pgp rows; the frozen backbone's
    # features of the three splits (that row reads them instead of the frames); no report, no baselines
    assert table == {"synthetic_corpus": 1, "prepare": 1, "decode": 6, "fasttext": 1, "lm_pretrain": 1,
                     "spatial_pretrain": 1, "pseudo_glosses": 2, "prototypes": 2, "pretrain": 3,
                     "frame_features": 3, "translate": 8, "evaluate": 8, "ablation_table": 1, "all": 1}
    assert "results/synthetic-de/table4/frozen-backbone/frame_features/train.h5" in out
    assert "results/synthetic-de/table4/pe-none/seed1/translate-pgp/best.safetensors" in out
    assert "results/synthetic-de/table4/pe-none/seed1/pretrain" not in out


@pytest.mark.parametrize("preset, set_name, jobs", [
    # one pretraining serves the full method, the three PE rows and XGLM-564M (the LM is not in it)
    ("phoenix14t", "phoenix14t-table4", {"prepare": 1, "decode": 48, "pseudo_glosses": 1, "prototypes": 1,
                                         "pretrain": 1, "translate": 9, "evaluate": 9, "ablation_table": 1, "all": 1}),
    # two scratch rows: no pretraining, so no text stages either
    ("csldaily", "csldaily-backbone", {"prepare": 1, "decode": 96, "translate": 2, "evaluate": 2,
                                       "ablation_table": 1, "all": 1}),
])
def test_preset_sets_dry_run_on_the_release_fixtures(preset, set_name, jobs, tmp_path, planned_jobs):
    table, out = dry_run(tmp_path, planned_jobs, REPO / "configs" / f"{preset}.yaml",
                         REPO / ".test" / f"{preset}-dry-run.yaml", SETS / f"{set_name}.yaml")
    assert table == jobs
