"""Paper-scale rehearsal of the presets: every model setting of configs/phoenix14t.yaml (and the
CSL-Daily data layout of configs/csldaily.yaml) with stand-in weights of the real architectures,
on a synthetic corpus in the release layout, through the workflow end to end.

Slow (about 8 + 2 minutes on 2 cores); runs in CI. The stand-ins (`sign2gpt.app.rehearsal`):
DINOv2 with dinov2-small's configuration, XGLM with xglm-564M's configuration and its real
256,008-token vocabulary but 2 of its 24 layers (CI's time), a 300-d fastText .bin and a spaCy
pipeline folder, each loaded by the preset's own code path.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from sign2gpt.app.rehearsal import make_rehearsal_inputs

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
LM_LAYERS = 2
# ~100 frames a video (18-24 frames per gloss), as PHOENIX-2014T's shorter videos
CORPUS = dict(signers=3, test_only_signers=1, image_size=64, frames_per_gloss=[18, 24], transition_frames=[3, 5],
              seed=0)


def run_workflow(work: Path, preset: str, overlay: str, *targets: str) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "configs" / preset),
           str(REPO / ".test" / overlay), "--cores", "2", *targets]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=1500, env={**os.environ})
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def tensor_names(path: Path) -> list[str]:
    with safe_open(str(path), "pt") as f:
        return [k for k in f.keys() if not k.startswith("__")]


@pytest.mark.slow
def test_phoenix14t_preset_end_to_end_at_paper_scale(tmp_path):
    make_rehearsal_inputs(tmp_path, "phoenix14t", corpus={**CORPUS, "splits": {"train": 4, "dev": 2, "test": 2}},
                          lm_layers=LM_LAYERS)
    run_workflow(tmp_path, "phoenix14t.yaml", "paper-scale.yaml")
    data = tmp_path / "results" / "phoenix14t"
    exp, run = data / "paper", data / "paper" / "seed1"

    # every stage left its outputs
    for split in ("train", "dev", "test"):
        assert (data / "manifest" / f"{split}.tsv").is_file()
        assert sorted(p.name for p in (data / "frames" / split).glob("shard*.h5")) == ["shard0.h5", "shard1.h5"]
        assert (run / "features" / f"{split}.h5").is_file()
    for name in ("pseudo_glosses.json", "pseudo_gloss_stats.json", "prototypes.safetensors"):
        assert (data / "text" / name).is_file()
    for name in ("best.safetensors", "metrics.csv", "localization.json"):
        assert (run / "pretrain" / name).is_file()
    for variant in ("scratch", "pgp", "z"):
        for name in ("best.safetensors", "metrics.csv", "inference.json"):
            assert (run / f"translate-{variant}" / name).is_file()
        for name in ("metrics.json", "dev.hyp.tsv", "test.hyp.tsv"):
            assert (run / f"eval-{variant}" / name).is_file()
    assert (exp / "baselines" / "metrics.json").is_file() and (exp / "run_card.md").is_file()

    # the preset's models were the ones loaded, at full size
    logs = tmp_path / "logs" / "phoenix14t" / "paper" / "seed1"  # logs/<dataset>/<experiment>/seed1
    pretrain_log = (logs / "pretrain.log").read_text()
    assert "Dinov2Model hidden 384, tune=lora" in pretrain_log
    translate_log = (logs / "translate-pgp.log").read_text()
    assert f"adapted xglm: {LM_LAYERS} layers" in translate_log
    # the frame readers use the overlay's 2 workers
    assert "evaluate pgp on cpu, 2 loader workers" in (logs / "evaluate-pgp.log").read_text()
    assert "0 loader workers" in (logs / "evaluate-z.log").read_text()  # cached features: no frames to read
    assert "2 loader workers" in (logs / "cache_features-dev.log").read_text()
    pipeline = json.loads((data / "text" / "pseudo_glosses.json").read_text())["pipeline"]
    assert pipeline["name"] == "weights/spacy-de"
    assert pipeline["version"].startswith("de_")  # from the loaded folder's meta.json, not the offline tagger

    # the report has every variant and both reference rows, every cell a finite score
    table = json.loads((exp / "metrics.json").read_text())
    assert [r["variant"] for r in table["variants"]] == ["scratch", "pgp", "z", "text-only baseline",
                                                         "gates shut (no sign input)"]
    for row in table["variants"]:
        for split in ("dev", "test"):
            for metric in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"):
                value = row["cells"][split][metric]["mean"]
                assert math.isfinite(value) and 0.0 <= value <= 100.0, (row["variant"], split, metric, value)
    # the preset scores the text as it is (the official code); the period-stripped figures beside it
    pgp = json.loads((run / "eval-pgp" / "metrics.json").read_text())["splits"]["test"]
    assert pgp["conventions"]["strip_final_period"] is False and pgp["alternative"]["strip_final_period"] is True
    assert pgp["n"] == 2

    # PHOENIX-2014T has no gloss segments: nothing scored, only the example map drawn
    loc = json.loads((run / "pretrain" / "localization.json").read_text())
    assert loc["scores"] is None and loc["videos_scored"] == 0 and len(loc["examples"]) == 1

    # translation checkpoints hold what trained, not the frozen LM (its tied output matrix included)
    for variant in ("pgp", "z"):
        names = tensor_names(run / f"translate-{variant}" / "best.safetensors")
        assert not [n for n in names if n.startswith("lm.lm.")
                    and ".lora_" not in n and ".gate" not in n and "cross" not in n], names[:10]
        assert (run / f"translate-{variant}" / "best.safetensors").stat().st_size < 100e6  # the LM alone is 1.1 GB

    # export at the preset's scale: LoRA on a frozen DINOv2 and a frozen XGLM are left to their base
    # models, and the folder loads back to the very same tensors
    import torch

    from sign2gpt.inference.export import export_model
    from sign2gpt.inference.model_folder import read_model_folder
    from sign2gpt.inference.video_translator import VideoTranslator

    folder = export_model(exp, tmp_path / "export", variant="pgp", seed=1)
    config = read_model_folder(folder)
    assert set(config["base_models"]) == {"lm", "backbone"} and not any(r["copied"]
                                                                        for r in config["base_models"].values())
    assert (folder / "model.safetensors").stat().st_size < 100e6
    original, loaded = VideoTranslator.from_run(exp, variant="pgp", seed=1), VideoTranslator.from_pretrained(folder)
    mine, theirs = original.model.state_dict(), loaded.model.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    del original, loaded, mine, theirs

    # nothing left to do
    proc = run_workflow(tmp_path, "phoenix14t.yaml", "paper-scale.yaml", "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_csldaily_layout_text_stages_and_one_translate_step(tmp_path):
    make_rehearsal_inputs(tmp_path, "csldaily", corpus={**CORPUS, "splits": {"train": 2, "dev": 1, "test": 1}},
                          lm_layers=LM_LAYERS)
    best = "results/csldaily/paper/seed1/translate-scratch/best.safetensors"
    run_workflow(tmp_path, "csldaily.yaml", "csldaily-scale.yaml", "results/csldaily/text/prototypes.safetensors", best)
    data = tmp_path / "results" / "csldaily"
    manifest = (data / "manifest" / "train.tsv").read_text().splitlines()
    assert len(manifest) == 3 and "frames_512x512" in manifest[1]
    glosses = json.loads((data / "text" / "pseudo_glosses.json").read_text())
    assert glosses["language"] == "zh" and glosses["vocab"]
    metrics = (data / "paper" / "seed1" / "translate-scratch" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 2  # header + one epoch
    assert (tmp_path / best).stat().st_size < 100e6
