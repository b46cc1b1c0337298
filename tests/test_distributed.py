"""Distributed helpers: single-process no-ops, and a real 2-process gloo run through the Trainer."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed next to the interpreter")
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "--standalone", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
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
