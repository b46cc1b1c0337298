"""Distributed helpers: single-process no-ops, and a real 2-process gloo run through the Trainer."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from sign2gpt.training import distributed as D

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from torch import nn
    from torch.utils.data import Dataset
    from torch.utils.data._utils.collate import default_collate
    from safetensors.torch import save_file
    from sign2gpt.data.dataset import make_loader
    from sign2gpt.training.distributed import all_reduce_sum, cleanup, init_distributed, is_main, unwrap, wrap_model
    from sign2gpt.training.loop import Trainer
    from sign2gpt.training.optim import build_optimizer, build_scheduler

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    torch.manual_seed(info.rank)  # different init per rank: DDP must broadcast rank 0's
    seen = []

    class Pairs(Dataset):
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.x = torch.randn(32, 6, generator=g)
            self.y = self.x[:, :1] - self.x[:, 2:3]
        def __len__(self):
            return 32
        def __getitem__(self, i):
            seen.append(int(i))
            return self.x[i], self.y[i]

    data = Pairs()
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
    ddp = wrap_model(model, info)
    loader = make_loader(data, 4, train=True, distributed=True, seed=1, collate_fn=default_collate)
    opt = build_optimizer(model, 1e-2, 0.01)
    sched = build_scheduler(opt, epochs=2, steps_per_epoch=len(loader), warmup_epochs=1, min_lr_ratio=0.1)

    def train_step(batch):
        x, y = batch
        return nn.functional.mse_loss(ddp(x), y)

    def evaluate():
        return {"neg_mse": -nn.functional.mse_loss(unwrap(ddp)(data.x), data.y).item()}

    Trainer(ddp, opt, sched, loader, train_step, evaluate, out_dir=out / "run", epochs=2, select_metric="neg_mse").fit()
    world = all_reduce_sum(torch.ones(1)).item()
    params = {k: v.detach().contiguous() for k, v in model.named_parameters()}
    save_file(params, str(out / f"rank{info.rank}.safetensors"))
    (out / f"rank{info.rank}.json").write_text(json.dumps(
        {"rank": info.rank, "world": info.world_size, "reduced": world, "main": is_main(),
         "seen": seen, "ddp": type(ddp).__name__, "device": str(info.device)}))
    cleanup()
    """
)


def test_single_process_helpers_are_no_ops(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = D.init_distributed("cpu")
    assert (info.rank, info.world_size, info.local_rank, info.device) == (0, 1, 0, torch.device("cpu"))
    assert info.is_main and not info.distributed
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert D.wrap_model(model, info) is model
    assert D.unwrap(model) is model
    assert D.is_main()
    t = torch.tensor([1.0, 2.0])
    assert D.all_reduce_sum(t) is t and t.tolist() == [1.0, 2.0]
    D.barrier()
    D.cleanup()


def gloo_ranks(tmp_path: Path, script: str, *args: str, nproc: int = 2, check: bool = True):
    """Run `script` on `nproc` CPU (gloo) ranks under torchrun; the finished process."""
    path = tmp_path / "ranks.py"
    path.write_text(script)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--standalone", str(path),
         *args], capture_output=True, text=True, timeout=300, env=env,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    gloo_ranks(tmp_path, SCRIPT, str(tmp_path))
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world"] for i in info] == [2, 2] and [i["reduced"] for i in info] == [2.0, 2.0]
    assert [i["main"] for i in info] == [True, False]
    assert all(i["ddp"] == "DistributedDataParallel" for i in info)
    # DistributedSampler: each rank saw half of the data per epoch, disjoint within an epoch
    epoch0 = [set(i["seen"][:16]) for i in info]
    assert len(epoch0[0]) == len(epoch0[1]) == 16 and not epoch0[0] & epoch0[1]
    w0, w1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert w0.keys() == w1.keys() and len(w0) == 6
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["best.safetensors", "last.safetensors", "metrics.csv",
                                                     "metrics.json",
                                                    "state", "tensorboard"]
    assert len(list((run / "tensorboard").iterdir())) == 1  # one event file: rank 0 writes, rank 1 does not
    assert len(json.loads((run / "metrics.json").read_text())) == 2


# A Python without sign2gpt installed, as in a conda job: site-packages' entries that would import
# it (the editable install's src/) are dropped, unless PYTHONPATH names them.
NOT_INSTALLED = textwrap.dedent(
    """
    import os, sys
    given = {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    sys.path[:] = [p for p in sys.path
                   if os.path.realpath(p or ".") in given or not os.path.isdir(os.path.join(p or ".", "sign2gpt"))]
    """
)

RANK_TARGET = textwrap.dedent(
    """
    import json, logging, os
    from pathlib import Path
    import sign2gpt
    from sign2gpt.training.distributed import cleanup, init_distributed

    def run(out):
        info = init_distributed("cpu")
        log = logging.getLogger("rank_target")
        log.info("info from rank %d", info.rank)
        log.warning("warning from rank %d", info.rank)
        Path(out, f"rank{info.rank}.json").write_text(json.dumps({"package": sign2gpt.__file__}))
        cleanup()
    """
)

RULE_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    try:
        import sign2gpt
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("the simulation failed: sign2gpt is importable without the rule script's path")
    src, out, log_file = sys.argv[1:]
    sys.path.insert(0, src)  # what workflow/scripts/stage.py does
    from sign2gpt.core.logs import setup_logging
    from sign2gpt.training.launch import launch

    setup_logging(log_file)
    logging.getLogger("rule").info("before the ranks")
    launch("rank_target:run", {"out": out}, nproc=2, log_file=log_file)
    logging.getLogger("rule").info("after the ranks")
    """
)


def test_torchrun_ranks_import_the_package_as_a_conda_job_has_it(tmp_path):
    """`gpus > 1` under conda: the ranks find sign2gpt only where the rule script put it, and they
    log into the rule's log (rank 0 its info, rank 1 its warnings only) beside the launching process."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NOT_INSTALLED)
    (site / "rank_target.py").write_text(RANK_TARGET)
    (tmp_path / "rule.py").write_text(RULE_SCRIPT)
    log_file = tmp_path / "logs" / "translate.log"
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(site)}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, str(tmp_path / "rule.py"), str(src), str(tmp_path), str(log_file)],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank in (0, 1):
        package = json.loads((tmp_path / f"rank{rank}.json").read_text())["package"]
        assert Path(package).resolve().parent.parent == src.resolve()
    lines = log_file.read_text().splitlines()
    text = "\n".join(lines)
    assert "before the ranks" in lines[0] and "after the ranks" in lines[-1], text
    assert any("[rank 0]" in line and "info from rank 0" in line for line in lines), text
    assert any("[rank 0]" in line and "warning from rank 0" in line for line in lines), text
    assert any("[rank 1]" in line and "warning from rank 1" in line for line in lines), text
    assert "info from rank 1" not in text


def test_a_failing_rank_fails_the_stage_with_one_line(tmp_path, monkeypatch):
    from sign2gpt.training.launch import RanksFailed, launch

    (tmp_path / "bad_target.py").write_text("def run():\n    raise ValueError('broken on purpose')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    log_file = tmp_path / "stage.log"
    with pytest.raises(RanksFailed, match="bad_target:run on 2 processes stopped"):
        launch("bad_target:run", {}, nproc=2, log_file=log_file)
    assert "broken on purpose" in log_file.read_text()


TUNE_FULL = textwrap.dedent(
    """
    import sys
    import torch
    from sign2gpt.models.spatial import SpatialModel, build_backbone
    from sign2gpt.training.distributed import cleanup, init_distributed, wrap_model

    info = init_distributed("cpu")
    torch.manual_seed(0)
    backbone = build_backbone(None, {"image_size": 16, "patch_size": 8, "hidden_size": 24, "num_hidden_layers": 2,
                                     "num_attention_heads": 2, "mlp_ratio": 2})
    model = wrap_model(SpatialModel(backbone, 8, tune="full", pooling="cls"), info)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(3):
        frames = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(10 * step + info.rank))
        x, mask = model(frames, [3, 2])
        opt.zero_grad()
        x[mask].square().sum().backward()
        opt.step()
    print("rank", info.rank, "done")
    cleanup()
    """
)


def test_ddp_trains_a_fully_tuned_dinov2(tmp_path):
    """spatial.tune: full under DDP: every trainable parameter takes part in every step (an unused
    one, DINOv2's mask token, stopped DDP at its second step)."""
    proc = gloo_ranks(tmp_path, TUNE_FULL)
    assert proc.stdout.count("done") == 2


# A Trainer on 2 gloo ranks, in one of several modes (argv: out folder, mode, epochs):
#   nan: rank 1's loss is NaN at step 2; each rank records the error it stopped with
#   train: fit, then record each rank's torch RNG state (what `last` holds)
#   restore: resume from `last` and record each rank's torch RNG state right after
#   stale: rank 0 discards a stale `last` slowly; rank 1 records whether it still sees it
HARNESS = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from torch.utils.data._utils.collate import default_collate
    from sign2gpt.data.dataset import make_loader
    from sign2gpt.training import run_context
    from sign2gpt.training.distributed import cleanup, init_distributed, wrap_model
    from sign2gpt.training.loop import Trainer
    from sign2gpt.training.optim import build_optimizer, build_scheduler

    out, mode, epochs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)

    if mode == "stale":
        slow = run_context.discard_stale_checkpoint
        def discard(path, digest):
            time.sleep(1.5)
            slow(path, digest)
        run_context.discard_stale_checkpoint = discard
        with run_context.training_run(str(out / "run"), seed=1, device="cpu", precision="fp32",
                                      fingerprint={"settings": "new"}) as run:
            (out / f"rank{run.dist.rank}.json").write_text(json.dumps(
                {"sees_stale": (out / "run" / "last.safetensors").exists()}))
        sys.exit(0)

    info = init_distributed("cpu")
    torch.manual_seed(0)
    x = torch.randn(32, 6)
    data = TensorDataset(x, x[:, :1] - x[:, 2:3])
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    ddp = wrap_model(model, info)
    loader = make_loader(data, 4, train=True, distributed=True, seed=1, collate_fn=default_collate)
    opt = build_optimizer(model, 1e-2, 0.01)
    # the schedule of 2 ranks whatever the world size (one recipe for any world size is another issue's)
    sched = build_scheduler(opt, epochs=2, steps_per_epoch=4, warmup_epochs=1, min_lr_ratio=0.1)
    torch.manual_seed(1 + info.rank)  # as training_run seeds each rank
    steps = []

    def train_step(batch):
        x, y = batch
        steps.append(1)
        loss = nn.functional.mse_loss(ddp(x), y)
        return loss * float("nan") if mode == "nan" and info.rank == 1 and len(steps) == 2 else loss

    trainer = Trainer(ddp, opt, sched, loader, train_step, lambda: {"m": 0.0}, out_dir=out / "run", epochs=epochs,
                      select_metric="m", seed=1)
    record = {}
    if mode == "nan":
        try:
            trainer.fit()
        except FloatingPointError as exc:
            record["error"] = str(exc)
    elif mode == "train":
        trainer.fit()
        record["rng"] = torch.get_rng_state().tolist()
    elif mode == "restore":
        trainer.out_dir.mkdir(exist_ok=True)
        record["epochs_done"] = trainer._restore()
        record["rng"] = torch.get_rng_state().tolist()
    (out / f"rank{info.rank}.json").write_text(json.dumps(record))
    cleanup()
    """
)


def _ranks(tmp_path, n=2):
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(n)]


def test_a_nan_on_one_rank_stops_every_rank_with_the_same_message(tmp_path):
    proc = gloo_ranks(tmp_path, HARNESS, str(tmp_path), "nan", "2")  # the ranks' harness exits normally
    errors = [r["error"] for r in _ranks(tmp_path)]
    assert errors[0] == errors[1], proc.stderr[-2000:]
    assert "non-finite loss or gradients at epoch 1, step 2" in errors[0]
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_each_rank_resumes_its_own_rng_state(tmp_path):
    """Dropout masks differ across ranks after a resume, as they did before it; resumed with
    another number of processes, each rank re-derives its generators from (seed, epoch, rank)."""
    gloo_ranks(tmp_path, HARNESS, str(tmp_path), "train", "1")
    saved = [r["rng"] for r in _ranks(tmp_path)]
    assert saved[0] != saved[1]
    gloo_ranks(tmp_path, HARNESS, str(tmp_path), "restore", "2")
    resumed = _ranks(tmp_path)
    assert [r["epochs_done"] for r in resumed] == [1, 1]
    assert [r["rng"] for r in resumed] == saved  # each rank its own
    proc = gloo_ranks(tmp_path, HARNESS, str(tmp_path), "restore", "2", nproc=1)
    assert "re-derives its generators from (seed 1, epoch 1, rank 0)" in proc.stderr
    derived = int(np.random.SeedSequence([1, 1, 0]).generate_state(1)[0])
    torch.manual_seed(derived)
    assert _ranks(tmp_path, 1)[0]["rng"] == torch.get_rng_state().tolist()


def test_no_rank_sees_a_stale_checkpoint_that_rank_0_discards(tmp_path):
    from sign2gpt.runtime.checkpoint import save_checkpoint

    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "last.safetensors", nn.Linear(2, 2), epoch=1,
                    extra={"fingerprint": "written with other settings"})
    gloo_ranks(tmp_path, HARNESS, str(tmp_path), "stale", "1")
    assert [r["sees_stale"] for r in _ranks(tmp_path)] == [False, False]


# Dev evaluation as the training stages run it, in one process or sharded over 2 gloo ranks:
# pretrain's dev_metrics and translate's dev_scores (teacher-forced and beam), and the merged
# hypotheses themselves. Rank 0 writes what it got.
SHARDED_DEV = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from sign2gpt.core.settings import FrameSettings
    from sign2gpt.data.dataset import SignDataset, make_loader
    from sign2gpt.data.frame_store import FrameStore
    from sign2gpt.data.manifest import read_manifest
    from sign2gpt.evaluation.translate_eval import beam_translate
    from sign2gpt.lm.targets import start_token_id
    from sign2gpt.models.build import build_translator
    from sign2gpt.models.pgp_head import PseudoGlossHead
    from sign2gpt.models.sign_model import build_sign_model
    from sign2gpt.text.prototypes import load_prototypes
    from sign2gpt.text.vocab_file import PseudoGlossVocab
    from sign2gpt.training.distributed import cleanup, init_distributed, merge_dicts
    from sign2gpt.training.pretrain import PretrainModel, dev_metrics
    from sign2gpt.training.translate import TranslateJob, dev_scores

    out, pretrain_kw, translate_kw = Path(sys.argv[1]), *(json.loads(Path(a).read_text()) for a in sys.argv[2:])
    torch.set_num_threads(1)
    info = init_distributed("cpu")

    vocab = PseudoGlossVocab.load(pretrain_kw["pseudo_glosses"])
    protos, _ = load_prototypes(pretrain_kw["prototypes"], expected_vocab=list(vocab.vocab))
    torch.manual_seed(0)
    sign_model = build_sign_model(pretrain_kw["spatial"], pretrain_kw["encoder"])
    core = PretrainModel(sign_model, PseudoGlossHead.from_config(sign_model.dim, protos, pretrain_kw["head"])).eval()
    frames_cfg = FrameSettings.from_config(pretrain_kw["frames_cfg"])
    dev = SignDataset(read_manifest(pretrain_kw["dev_manifest"]), FrameStore(pretrain_kw["frames"]), train=False,
                      image_size=pretrain_kw["spatial"]["image_size"], stride=frames_cfg.frame_stride,
                      max_frames=frames_cfg.max_frames, targets_fn=vocab.targets_for, seed=1)
    with torch.no_grad():
        pretrain = dev_metrics(core, make_loader(dev, 2, False, 0, info.distributed, seed=1), len(vocab.vocab), info)

    job = TranslateJob.from_kwargs(translate_kw)
    torch.manual_seed(0)
    model, tokenizer = build_translator(job.variant, lm=job.lm, spatial=job.spatial, encoder=job.encoder,
                                       lora=job.train.lora, device=info.device, freeze_sign=False)
    with torch.no_grad():  # open the gates and stir the trained weights: hypotheses that depend on the video
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.fill_(1.0) if name.endswith(".gate") else p.add_(torch.randn_like(p))
    model.eval()
    start_id = start_token_id(model.lm.lm, tokenizer)
    loader = job.loader("dev", info, train=False)
    references = {s.id: s.text for s in read_manifest(job.dev_manifest)}
    with torch.no_grad():
        translate = dev_scores(job, model, loader, tokenizer, start_id, references)
        hyps = merge_dicts(beam_translate(model, loader, tokenizer, start_id=start_id, beam=2, max_tokens=12))
    if info.rank == 0:
        (out / f"world{info.world_size}.json").write_text(json.dumps(
            {"pretrain": pretrain, "translate": translate, "hyps": hyps, "batches": len(loader)}))
    cleanup()
    """
)


@pytest.mark.slow
def test_sharded_dev_evaluation_scores_as_one_process(training_inputs, tmp_path):
    """Under DDP each rank evaluates every other dev batch (6 videos in batches of 2: rank 0 two
    batches, rank 1 one) and the merged scores equal one process's, exactly."""
    from test_reliability import pretrain_kwargs, translate_kwargs

    pre = {**pretrain_kwargs(training_inputs, tmp_path / "unused")}
    tr = translate_kwargs(training_inputs, tmp_path / "unused")
    # the dev batch is the micro-batch: 2 on 1 process (of a global 4) and on each of 2 ranks (4 / 2)
    tr["train"] = {**tr["train"], "batch_size": 4, "micro_batch_size": 2, "select_on": "beam_bleu4",
                   "select_beam": 2}
    (tmp_path / "pretrain.json").write_text(json.dumps(pre))
    (tmp_path / "translate.json").write_text(json.dumps(tr))
    args = (str(tmp_path), str(tmp_path / "pretrain.json"), str(tmp_path / "translate.json"))
    gloo_ranks(tmp_path, SHARDED_DEV, *args, nproc=1)
    gloo_ranks(tmp_path, SHARDED_DEV, *args, nproc=2)
    one, two = (json.loads((tmp_path / f"world{n}.json").read_text()) for n in (1, 2))
    assert (one["batches"], two["batches"]) == (3, 2)  # rank 0's share: batches 0 and 2
    assert len(one["hyps"]) == 6 and len(set(one["hyps"].values())) > 1
    assert two["hyps"] == one["hyps"]
    assert two["pretrain"] == one["pretrain"] and "dev_macro_f1" in one["pretrain"]
    assert two["translate"] == one["translate"] and "dev_beam_bleu4" in one["translate"]


# One recipe on any hardware: a global batch of 16 per optimizer step, split over 1 or 2 gloo ranks
# and micro-batches. argv: out folder, run name, micro-batch size, epochs. Each item counts as 1-3
# "tokens" (its weight), so micro-batches differ in what their mean is over, as sentences do.
RECIPE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from torch.utils.data._utils.collate import default_collate
    from safetensors.torch import save_file
    from sign2gpt.core.batching import batch_plan
    from sign2gpt.data.dataset import make_loader
    from sign2gpt.training.distributed import cleanup, init_distributed, wrap_model
    from sign2gpt.training.loop import Trainer
    from sign2gpt.training.optim import build_optimizer, build_scheduler

    out, name, micro, epochs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    plan = batch_plan(16, micro, info.world_size, section="test")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 6, generator=g)
    data = TensorDataset(x, x[:, :1] - x[:, 2:3] * x[:, 3:4], 1.0 + torch.arange(32) % 3)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))  # no BatchNorm, no dropout
    ddp = wrap_model(model, info)
    loader = make_loader(data, plan.micro_batch, True, 0, info.distributed, seed=1, collate_fn=default_collate,
                         step_items=plan.per_process)
    opt = build_optimizer(model, 3e-2, 0.01)
    sched = build_scheduler(opt, epochs=2, steps_per_epoch=plan.steps(len(loader)), warmup_epochs=1, min_lr_ratio=0.1)

    def train_step(batch):
        xb, yb, wb = batch
        per_item = (ddp(xb) - yb).square().squeeze(1)
        return (per_item * wb).sum() / wb.sum(), wb.sum()  # the mean over the micro-batch's "tokens"

    trainer = Trainer(ddp, opt, sched, loader, train_step, lambda: {"m": 0.0}, out_dir=out / name, epochs=epochs,
                      select_metric="m", seed=1, accumulation=plan.accumulation)
    trainer.fit()
    if info.rank == 0:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / f"{name}.safetensors"))
    cleanup()
    """
)


@pytest.mark.slow
def test_one_recipe_gives_the_same_steps_on_any_split(tmp_path):
    """Global batch 16, two epochs of two steps: 1 process x 16, 2 ranks x 8, 1 process x (4
    micro-batches of 4) and 2 ranks x (4 micro-batches of 2) end with the same parameters, to 1e-6
    (float rounding of other summation orders); a run resumed on another number of processes
    continues the same schedule to the same parameters."""
    runs = {"1x16": (1, 16), "2x8": (2, 8), "1x4x4": (1, 4), "2x4x2": (2, 2)}
    for name, (nproc, micro) in runs.items():
        gloo_ranks(tmp_path, RECIPE, str(tmp_path), name, str(micro), "2", nproc=nproc)
    params = {name: load_file(str(tmp_path / f"{name}.safetensors")) for name in runs}
    torch.manual_seed(0)
    start = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
    assert not torch.allclose(params["1x16"]["0.weight"], start[0].weight, atol=1e-3)  # it trained
    for name in runs:
        for key, value in params["1x16"].items():
            torch.testing.assert_close(params[name][key], value, rtol=1e-5, atol=1e-6, msg=f"{name} {key}")
    # resumed: one epoch on 2 ranks, the second on 1 process with micro-batches of 4
    gloo_ranks(tmp_path, RECIPE, str(tmp_path), "resumed", "8", "1", nproc=2)
    proc = gloo_ranks(tmp_path, RECIPE, str(tmp_path), "resumed", "4", "2", nproc=1)
    assert "re-derives its generators" in proc.stderr
    for key, value in params["2x8"].items():
        torch.testing.assert_close(load_file(str(tmp_path / "resumed.safetensors"))[key], value, rtol=1e-5, atol=1e-6)


CONSTANT_BUFFERS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from torch import nn
    from sign2gpt.training.distributed import cleanup, init_distributed, wrap_model

    torch.set_num_threads(1)
    info = init_distributed("cpu")

    class Frozen(nn.Module):  # stands for the frozen LM: a constant table, as XGLM's positions
        def __init__(self):
            super().__init__()
            self.register_buffer("table", torch.full((3,), float(info.rank)))

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lm = nn.Module()
            self.lm.lm = Frozen()
            self.bn = nn.BatchNorm1d(2)
            self.fc = nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(self.bn(x)).sum() + self.lm.lm.table.sum() * 0

    model = Toy()
    model.bn.running_mean.fill_(10.0 + info.rank)  # differs per rank: DDP must send rank 0's
    ddp = wrap_model(model, info, constant_buffers="lm.lm.")  # DDP sends rank 0's buffers, as before each step
    sent = model.bn.running_mean.tolist()
    ddp(torch.randn(4, 2)).backward()
    Path(sys.argv[1], f"rank{info.rank}.json").write_text(json.dumps(
        {"table": model.lm.lm.table.tolist(), "running_mean": sent}))
    cleanup()
    """
)


def test_constant_buffers_are_not_sent_every_step(tmp_path):
    """The frozen LM's buffers are left out of DDP's per-step broadcast (they never change, every
    rank holds them): rank 1 keeps its own here, while BatchNorm's statistics still come from rank 0."""
    gloo_ranks(tmp_path, CONSTANT_BUFFERS, str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["table"] == [0.0] * 3 and ranks[1]["table"] == [1.0] * 3
    assert ranks[0]["running_mean"] == ranks[1]["running_mean"] == [10.0, 10.0]
