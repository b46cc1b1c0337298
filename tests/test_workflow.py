"""The workflow as a whole: the DAG, lint, an end-to-end run of the tiny configuration,
determinism, and rerunning single stages.

The end-to-end tests are marked `slow` (a few minutes on 2 cores); they still run in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TEST_CONFIG = REPO / ".test" / "config.yaml"


def snakemake(*args: str, cwd: Path, check: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(TEST_CONFIG), *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}  # as `make run` runs: hash seed not pinned
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def test_dry_run_shows_the_stage_dag(tmp_path, planned_jobs):
    proc = snakemake("-n", cwd=tmp_path)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    for rule in ("synthetic_corpus", "prepare", "decode", "pseudo_glosses", "fasttext", "prototypes", "lm_pretrain",
                 "spatial_pretrain",
                 "pretrain", "cache_features", "translate", "evaluate", "baselines", "report"):
        assert rule in jobs, f"{rule} missing from the DAG: {jobs}"
    assert jobs["translate"] == 3 * 2  # three variants × two seeds in .test/config.yaml
    assert jobs["decode"] == 3 * 2  # three splits × two shards


def test_command_line_overrides_of_nested_numbers_and_lists(tmp_path, planned_jobs):
    """`--config` values below the top level arrive as strings; the schema's types are applied."""
    proc = snakemake("-n", "--config", "translate={label_smoothing: 0.2, lr: 1e-3}", "seeds=[1,2,3]", cwd=tmp_path)
    assert planned_jobs(proc.stdout + proc.stderr)["translate"] == 3 * 3  # three variants × three seeds
    proc = snakemake("-n", "--config", "translate={label_smoothing: lots}", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "translate.label_smoothing" in proc.stdout + proc.stderr


def test_lint_is_clean():
    """What `make lint` runs (CI runs that too): Snakemake's checks, snakefmt and ruff."""
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    bin_dir = Path(sys.executable).parent
    for cmd in ([str(bin_dir / "snakefmt"), "--check", "Snakefile", "workflow"], [str(bin_dir / "ruff"), "check", "."]):
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{' '.join(cmd[1:])}:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"


def test_rule_graph_has_every_stage():
    """`make dag`: the rule graph (Mermaid) has every stage and the edges of the method."""
    proc = snakemake("--rulegraph", "mermaid-js", cwd=REPO)
    nodes = dict(line.strip().rstrip("]").split("[") for line in proc.stdout.splitlines()
                 if line.strip().startswith("id")
                 and "[" in line)
    names = set(nodes.values())
    assert names == {"all", "synthetic_corpus", "prepare", "decode", "pseudo_glosses", "fasttext", "prototypes",
                     "lm_pretrain", "spatial_pretrain", "pretrain", "cache_features", "translate", "evaluate",
                     "baselines", "report"}, names
    ids = {name: node for node, name in nodes.items()}
    for a, b in (("prototypes", "pretrain"), ("pretrain", "cache_features"), ("cache_features", "translate"),
                 ("translate", "evaluate"), ("evaluate", "report"), ("lm_pretrain", "translate")):
        assert f"{ids[a]} --> {ids[b]}" in proc.stdout, (a, b)


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain: {epochs: -3}\n")
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(bad), "-n"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "pretrain.epochs" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """The tiny configuration run to the report once (shared by the slow tests)."""
    work = tmp_path_factory.mktemp("run")
    snakemake("--cores", "2", cwd=work)
    return work


@pytest.mark.slow
def test_end_to_end_report(finished_run):
    import csv
    import math

    exp = finished_run / "results" / "synthetic-test" / "test"
    table = json.loads((exp / "metrics.json").read_text())
    variants = {v["variant"]: v for v in table["variants"]}
    assert set(variants) == {"scratch", "pgp", "z", "text-only baseline", "gates shut (no sign input)"}
    assert table["splits"] == ["dev", "test"] and table["meta"]["signature"].startswith("nrefs:1|")
    for name, v in variants.items():
        assert v["reference"] == (name in ("text-only baseline", "gates shut (no sign input)"))
        assert v["seeds"] == (["-"] if v["reference"] else ["1", "2"]), name
        for split in ("dev", "test"):
            for metric, cell in v["cells"][split].items():
                assert math.isfinite(cell["mean"]) and 0 <= cell["mean"] <= 100, (name, split, metric)
                if v["reference"]:
                    assert cell["std"] is None
                else:  # two seeds: a sample std, and each seed's own bootstrap interval around its score
                    assert cell["std"] is not None and cell["std"] >= 0 and cell["n"] == 2
                for seed, (low, high) in cell["intervals"].items():
                    assert low <= cell["values"][seed] <= high, (name, split, metric, seed)
    tests = table["significance"]["tests"]
    pairs = {(t["system"], t["baseline"], t["seed"]) for t in tests}
    best = table["significance"]["better_reference"]
    for seed in ("1", "2"):
        assert {("pgp", "scratch", seed), ("z", "pgp", seed), ("pgp", best, seed)} <= pairs
    assert all(0 < t["bleu4"]["p"] <= 1 for t in tests)
    md = (exp / "metrics.md").read_text()
    assert "Paired bootstrap tests" in md and md.count("| pgp | scratch |") == 2
    # which videos were scored comes first; per-signer scores (the test split has an unseen signer)
    coverage = table["meta"]["coverage"]
    assert {split: (c["scored"], c["videos"]) for split, c in coverage.items()} == {"dev": (6, 6), "test": (6, 6)}
    assert md.split("\n")[2] == ("Videos: dev: 6 of 6 videos scored, none with repaired frames; test: 6 of 6 videos "
                                 "scored, none with repaired frames.")
    assert md.split("\n")[4].startswith("Split: the corpus's own (test signers: ")
    signers = table["signers"]["test"]
    assert signers["unseen"] and "unseen signers" in signers["splits"] and "### test BLEU-4 per signer" in md
    assert sum(n for g, n in signers["videos"].items() if not g.endswith("signers")) == 6
    assert (exp / "figures" / "signers_test.png").stat().st_size > 0
    assert "Pseudo-glosses: V = " in md and "Test BLEU-4 by final-period convention" in md
    final = json.loads((exp / "seed1" / "eval-pgp" / "metrics.json").read_text())["splits"]["test"]["final_period"]
    assert final["signature"].startswith("nrefs:1|") and 0 <= final["bleu4"] <= 100
    # which rule chose each checkpoint, and the epoch it chose (evaluate's record of the checkpoint)
    assert "Checkpoints: the best on dev beam-search BLEU-4 (beam 4), every 1 epochs." in md
    for seed in (1, 2):
        chosen = json.loads((exp / f"seed{seed}" / "eval-pgp" / "metrics.json").read_text())["checkpoint_epoch"]
        assert f"pgp seed {seed}: epoch {chosen} (dev_beam_bleu4 " in md
        assert {"variant": "pgp", "seed": str(seed), "epoch": chosen} in [
            {k: c[k] for k in ("variant", "seed", "epoch")} for c in table["meta"]["checkpoints"]]
    html = (exp / "metrics.html").read_text()
    signer_rows = sum(1 + len(table["signers"][split]["splits"]) for split in ("dev", "test")) * 2  # BLEU-4, ROUGE-L
    # the headline, the per-signer tables, the full table one split at a time, the paired tests
    assert html.count("<tr>") == (1 + len(variants)) + signer_rows + 2 * (1 + len(variants)) + (1 + len(tests))
    assert "gates shut (no sign input)" in html and html.count("data:image/png;base64,") == len(
        list((exp / "figures").glob("*.png")))
    stage_rows = [line.split(" | ") for line in (exp / "run_card.md").read_text().splitlines() if "pretrain" in line]
    assert any(len(r) >= 3 and float(r[2]) > 0 for r in stage_rows if r[0].startswith("| ")), stage_rows  # timed
    assert list((exp / "figures").glob("localization_*.png"))
    for seed in (1, 2):
        with open(exp / f"seed{seed}" / "eval-pgp" / "test.hyp.tsv", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        assert rows and sum(bool(r["hypothesis"].strip()) for r in rows) >= len(rows) / 2  # mostly non-empty
    # TensorBoard event files from every training stage, one point per epoch
    from sign2gpt.runtime.tensorboard_log import read_scalars

    data = finished_run / "results" / "synthetic-test"
    for folder, epochs, tags in [
        (data / "lm", 2, {"train/loss", "train/perplexity"}),
        (data / "spatial", 1, {"train/loss", "throughput/train_frames_per_s"}),
        (exp / "seed1" / "pretrain", 2, {"train/loss", "dev/macro_f1", "throughput/train_frames_per_s"}),
        (exp / "seed1" / "translate-pgp", 2, {"train/loss", "dev/beam_bleu4", "gates/mean",
                                              "throughput/train_frames_per_s"}),
        (exp / "seed1" / "translate-z", 2, {"train/loss", "dev/beam_bleu4", "throughput/train_videos_per_s"}),
    ]:
        events = read_scalars(folder / "tensorboard")
        assert tags <= set(events), (folder, sorted(events))
        assert [step for step, _ in events["train/loss"]] == list(range(1, epochs + 1)), folder


@pytest.mark.slow
def test_no_op_dry_run_and_params_rerun(finished_run, planned_jobs):
    proc = snakemake("-n", cwd=finished_run)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # change one translation parameter: only translation, evaluation and the report rerun
    overlay = finished_run / "change.yaml"
    overlay.write_text("translate: {label_smoothing: 0.2}\n")
    proc = snakemake("-n", "--configfile", str(TEST_CONFIG), str(overlay), cwd=finished_run)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert set(jobs) == {"translate", "evaluate", "report", "all"}, jobs
    # forcing pretraining replans it and everything downstream of it, nothing upstream
    proc = snakemake("-n", "--forcerun", "pretrain", cwd=finished_run)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs.get("pretrain") == 2 and "cache_features" in jobs and "decode" not in jobs, jobs


# A config change and the jobs a dry run then plans on the finished tiny run ({rule: count}, plus the
# report; None: nothing at all; .test has 2 seeds, 3 variants): each rule's params hold only what can
# change its outputs.
RERUNS = [
    ("evaluate: {beam: 3}", {"evaluate": 6, "baselines": 1}),  # the final search only, not training
    ("pretrain: {localization_examples: 1, num_workers: 1}", None),  # maps kept, loader workers: nothing
    ("translate: {num_workers: 1}", None),
    ("pretrain: {micro_batch_size: 2}\ntranslate: {micro_batch_size: 2}", None),  # how a step is split: nothing
    ("gpus: 2\ndevice: cpu", None),  # the same recipe on 2 processes
    ("translate: {variants: [pgp, z]}", {}),  # fewer jobs: only the report changes
    ("evaluate: {examples: 2}", {}),  # the report's example translations
    ("translate: {z_epochs: 3}", {"translate": 2, "evaluate": 2}),  # z only
    ("translate: {epochs: 3}", {"translate": 4, "evaluate": 4}),  # scratch and pgp only
    ("translate: {select_beam: 3}", {"translate": 6, "evaluate": 6}),  # the dev search that picks the checkpoint
    ("pretrain: {lr: 2.0e-3}", {"pretrain": 2, "cache_features": 6, "translate": 4, "evaluate": 4}),  # not scratch
    ("frames: {max_frames: 200}", {"pretrain": 2, "cache_features": 6, "translate": 6, "evaluate": 6}),  # every reader
    ("lm: {pretrain: {epochs: 3}}", {"lm_pretrain": 1, "baselines": 1, "translate": 6, "evaluate": 6}),
    ("evaluate: {strip_final_period: false}", {"baselines": 1, "translate": 6, "evaluate": 6}),  # dev selection scores
    ("prototypes: {train: {epoch: 4}}", {"fasttext": 1, "prototypes": 1, "pretrain": 2, "cache_features": 6,
                                         "translate": 4, "evaluate": 4}),
    ("spatial: {pretrain: {epochs: 2}}", {"spatial_pretrain": 1, "pretrain": 2, "cache_features": 6, "translate": 6,
                                          "evaluate": 6}),
]


@pytest.mark.slow
def test_a_config_change_reruns_exactly_what_it_touches(finished_run, planned_jobs):
    overlay = finished_run / "change.yaml"
    wrong = []
    for change, expected in RERUNS:
        overlay.write_text(change + "\n")
        proc = snakemake("-n", "--configfile", str(TEST_CONFIG), str(overlay), cwd=finished_run)
        out = proc.stdout + proc.stderr
        jobs = planned_jobs(out) if "Job stats" in out else {}
        want = {} if expected is None else {**expected, "report": 1, "all": 1}
        if jobs != want:
            wrong.append(f"{change}: planned {jobs}, expected {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(finished_run, tmp_path):
    snakemake("--cores", "2", cwd=tmp_path)
    rel = Path("results/synthetic-test/test/metrics.json")
    assert (tmp_path / rel).read_bytes() == (finished_run / rel).read_bytes()


@pytest.mark.slow
def test_translate_cli_on_a_freshly_rendered_video(finished_run, tmp_path):
    import numpy as np

    from sign2gpt.data.synthetic import make_signers, render_video
    from sign2gpt.data.synthetic.mp4 import write_mp4

    signer = make_signers(5, seed=123)[-1]
    frames, _ = render_video(["MORGEN", "NORD", "REGEN"], signer, np.random.default_rng(7), image_size=32,
                             frames_per_gloss=(4, 6), transition_frames=(1, 2))
    video = tmp_path / "unseen.mp4"
    write_mp4(video, frames, 25)
    cli = str(Path(sys.executable).with_name("sign2gpt"))
    run = finished_run / "results" / "synthetic-test" / "test"
    for variant in ("pgp", "z"):
        proc = subprocess.run([cli, "translate", str(video), "--run", str(run), "--variant", variant],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(str(video) + "\t"), proc.stdout
        assert lines[0].split("\t", 1)[1].strip(), f"{variant}: empty translation"
    # good, bad, good: both good ones translated, one line for the bad one, exit 1; quiet (no loading bars)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    proc = subprocess.run([cli, "translate", str(video), str(tmp_path / "broken.mp4"), str(video), "--run", str(run)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2, proc.stdout
    ours = [line for line in proc.stderr.splitlines() if line.startswith("sign2gpt translate:")]
    assert len(ours) == 2 and "broken.mp4" in ours[0] and "1 of 3" in ours[1], proc.stderr
    assert "Loading weights" not in proc.stderr and "moov atom" not in proc.stderr, proc.stderr  # quiet without -v


@pytest.mark.slow
def test_export_from_pretrained_round_trip(finished_run, tmp_path):
    """An exported model folder is the run's model: the same tensors, the same translations of the
    test videos as the evaluate stage wrote; moved elsewhere it still loads (base models copied),
    and a changed or incomplete folder is refused naming the file. The run folder itself moves too."""
    import csv
    import shutil

    import torch

    from sign2gpt.app.cli import main
    from sign2gpt.core.errors import DataError
    from sign2gpt.core.record import TranslatorRecord
    from sign2gpt.data.manifest import read_manifest
    from sign2gpt.inference.video_translator import VideoTranslator

    data = finished_run / "results" / "synthetic-test"
    moved = tmp_path / "moved-results"
    shutil.copytree(data, moved)  # a results folder copied elsewhere: its inference.json paths are relative
    record = TranslatorRecord.read_run(moved / "test" / "seed1" / "translate-pgp")
    assert record.lm == str((moved / "lm").resolve()) and record.pretrained.startswith(str(moved.resolve()))
    run = moved / "test"
    test_videos = read_manifest(data / "manifest" / "test.tsv")
    for variant, copy in (("pgp", False), ("z", True)):
        out = tmp_path / f"export-{variant}"
        assert main(["export", str(run), str(out), "--variant", variant, "--seed", "1"] + ["--copy-base"] * copy) == 0
        if copy:  # self-contained: it loads from anywhere, with the run it came from gone
            (tmp_path / "elsewhere").mkdir()
            out = Path(shutil.move(str(out), tmp_path / "elsewhere" / out.name))
            hidden = Path(shutil.move(str(moved), tmp_path / "hidden-results"))
            exported = VideoTranslator.from_pretrained(out)
            shutil.move(str(hidden), moved)
        else:
            exported = VideoTranslator.from_pretrained(out)
        original = VideoTranslator.from_run(run, variant=variant, seed=1)
        mine, theirs = original.model.state_dict(), exported.model.state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), variant
        with open(data / "test" / "seed1" / f"eval-{variant}" / "test.hyp.tsv", newline="") as f:
            written = {r["id"]: r["hypothesis"] for r in csv.DictReader(f, delimiter="\t")}
        assert {s.id: exported.translate(s.video) for s in test_videos} == written, variant
        # the tiny model may translate every video alike: the sign memory shows the video reaches the model
        first, second = (exported.encode_video(s.video)[0] for s in test_videos[:2])
        assert not torch.equal(first, second) and torch.equal(first, original.encode_video(test_videos[0].video)[0])
        card = (out / "README.md").read_text()
        assert "| test | 6 |" in card and "[" in card and ("copied into `base/lm`" in card) == copy, card[:2000]
    # the precision the evaluate stage picks on a recent GPU: the LM in bf16, the passes under its autocast
    bf16 = VideoTranslator.from_run(run, variant="pgp", seed=1, precision="bf16")
    assert bf16.precision.name == "bf16" and bf16.model.lm.lm.get_input_embeddings().weight.dtype == torch.bfloat16
    assert isinstance(bf16.translate(test_videos[0].video), str)  # it runs; bf16 may pick other tokens than fp32

    broken = tmp_path / "tampered"
    shutil.copytree(tmp_path / "export-pgp", broken)
    blob = bytearray((broken / "model.safetensors").read_bytes())
    blob[-3] ^= 0xFF
    (broken / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="model.safetensors.*SHA-256"):
        VideoTranslator.from_pretrained(broken)
    (broken / "tokenizer" / "tokenizer.json").unlink()
    shutil.copy(tmp_path / "export-pgp" / "model.safetensors", broken / "model.safetensors")
    with pytest.raises(DataError, match="tokenizer.json.*missing"):
        VideoTranslator.from_pretrained(broken)


@pytest.mark.slow
def test_snakemake_html_report(finished_run):
    snakemake("--report", "report.html", cwd=finished_run)
    html = (finished_run / "report.html").read_text(errors="replace")
    assert "metrics.html" in html and "sacreBLEU" in html  # the table and its caption are in the report
    assert "Start with the results" in html  # the workflow description (report/workflow.rst) leads to it


@pytest.mark.slow
def test_backbone_probe_benchmark_on_the_finished_run(finished_run, tmp_path):
    """benchmarks/backbone_probe.py (which reads a finished run) with the test configuration."""
    import yaml

    from sign2gpt.core.config import load_config

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(load_config(TEST_CONFIG)))
    out = tmp_path / "probe.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "backbone_probe.py"), "--results",
                           str(finished_run / "results" / "synthetic-test"), "--config", str(config), "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == json.loads(out.read_text())
    assert result["train_frames"] > 0 and result["dev_frames"] > 0 and result["classes"] > 1
    assert 0 <= result["random_init_accuracy"] <= 1 and 0 <= result["pretrained_accuracy"] <= 1 and result["ratio"] > 0


@pytest.mark.slow
def test_dry_run_benchmark_on_the_finished_run(finished_run, tmp_path):
    out = tmp_path / "dry.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "dry_run.py"), "--workdir", str(finished_run),
                           "--repeats", "1", "--out", str(out), "--", "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", str(TEST_CONFIG)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == json.loads(out.read_text()) and result["dry_run_s"] > result["startup_s"] > 0


@pytest.mark.slow
def test_data_size_benchmark_reads_a_finished_run(finished_run):
    """benchmarks/data_size.py's reading of a report (its runs are minutes each: not run here)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import data_size
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    result = data_size.read_result(finished_run)
    assert set(result["pgp_vs_reference"]) == {"1", "2"} and set(result["pgp_test_bleu4"]) == {"1", "2"}
    table = json.loads((finished_run / "results" / "synthetic-test" / "test" / "metrics.json").read_text())
    assert result["better_reference"] == table["significance"]["better_reference"]
    for row in result["pgp_vs_reference"].values():
        assert row["beats"] == (row["delta_bleu4"] > 0 and row["p"] < 0.05)
    assert result["beats_on_every_seed"] == all(r["beats"] for r in result["pgp_vs_reference"].values())


# Last: it adds an ablation set's experiments to the finished run's folder (tests/test_ablation_set.py).
@pytest.mark.slow
def test_two_row_set_end_to_end(finished_run):
    """In the finished tiny run's folder: its dataset stages are reused, the translation-only row
    reuses the full row's pretraining, and the table holds what the evaluations scored."""
    proc = snakemake("--cores", "2", "--configfile", str(TEST_CONFIG), str(REPO / ".test" / "ablation.yaml"),
                     "--config", "seeds=[1]", cwd=finished_run)
    out = proc.stdout + proc.stderr
    assert "rule decode:" not in out and "rule lm_pretrain:" not in out and "rule pseudo_glosses:" not in out
    assert out.count("rule pretrain:") == 1 and out.count("rule translate:") == 2
    data = finished_run / "results" / "synthetic-test"
    result = json.loads((data / "two-rows" / "ablation.json").read_text())
    pe, loc = result["tables"]
    full = json.loads((data / "two-rows" / "full" / "seed1" / "eval-pgp" / "metrics.json").read_text())
    full_row = next(r for r in pe["rows"] if r["experiment"] == "full")
    assert full_row["ours"]["test"]["bleu4"]["seeds"]["1"]["score"] == round(full["splits"]["test"]["bleu4"], 2)
    assert next(r for r in pe["rows"] if r["experiment"] == "pe-none")["vs_reference"]["bleu4"]["seeds"].keys() == {"1"}
    scores = json.loads((data / "two-rows" / "full" / "seed1" / "pretrain" / "localization.json").read_text())["scores"]
    assert loc["rows"][0]["ours"]["dev"]["f1"]["seeds"]["1"]["score"] == round(scores["f1"], 3)
    inference = json.loads((data / "two-rows" / "pe-none" / "seed1" / "translate-pgp" / "inference.json").read_text())
    assert inference["memory_pe"] == "none"
    for suffix in ("md", "csv", "html"):
        assert (data / "two-rows" / f"ablation.{suffix}").stat().st_size > 0
    # Snakemake's report shows the set's table
    snakemake("--report", "ablation-report.html", "--configfile", str(TEST_CONFIG),
              str(REPO / ".test" / "ablation.yaml"), "--config", "seeds=[1]", cwd=finished_run)
    html = (finished_run / "ablation-report.html").read_text(errors="replace")
    assert "ablation.html" in html and "paired bootstrap" in html
