#!/usr/bin/env bash
# The GPU check: what this project's CPU machines cannot test, in one script of a few minutes on a
# machine with a CUDA GPU and the CUDA build of torch (docs/gpus-and-clusters.md):
#   1. benchmarks/train_step.py on CUDA at the presets' shapes (batch 8, 256 frames, DINOv2-S at
#      224 with LoRA, the 512-d encoder, XGLM-1.7B), with and without checkpointing: peak GPU
#      memory and seconds per step in the precision select_precision picks (bf16 on A100/H100);
#   2. the paper-scale rehearsal's pretrain and translate (pgp) on CUDA through the workflow
#      (stand-in weights, sign2gpt.app.rehearsal), one GPU, --resources gpu=1;
#   3. torchrun with NCCL on every GPU present (an all-reduce and a DDP step);
#   4. benchmarks/loader.py with the float work (resample, colour, normalise) timed on the GPU and
#      the loader workers scaled over the machine's CPUs (frames/s per worker).
# Results go to $OUT (or gpu-check/ here): train_step.json, loader.json, gpu_check.log, the
# rehearsal's logs.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, with .venv or sign2gpt installed
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check}"
mkdir -p "$OUT"
PY="${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
BIN="$(dirname "$(command -v "$PY" || echo "$PY")")"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv || true
"$PY" - <<'EOF'
import torch
from sign2gpt.runtime.precision import select_precision
assert torch.cuda.is_available(), "no CUDA device visible to torch (CPU build?)"
for i in range(torch.cuda.device_count()):
    p = select_precision(torch.device("cuda", i))
    print(f"cuda:{i} {torch.cuda.get_device_name(i)} -> {p.name} ({p.reason}); torch {torch.__version__} CUDA {torch.version.cuda}")
EOF

echo "== 1. train step at the presets' shapes (bf16 where supported)"
"$PY" benchmarks/train_step.py --device cuda --batch 8 --frames 256 --chunk 64 --lm xglm-1.7B --threads 8 \
    --no-scaling --out "$OUT/train_step.json"

echo "== 2. rehearsal pretrain + translate on CUDA"
WORK="$(mktemp -d)"
"$PY" - "$WORK" <<'EOF'
import sys
from sign2gpt.app.rehearsal import make_rehearsal_inputs
make_rehearsal_inputs(sys.argv[1], "phoenix14t", lm_layers=24,
                      corpus=dict(splits={"train": 8, "dev": 2, "test": 2}, signers=3, test_only_signers=1,
                                  image_size=64, frames_per_gloss=[18, 24], transition_frames=[3, 5], seed=0))
EOF
printf 'gpus: 1\ndevice: cuda\n' > "$WORK/cuda.yaml"
(cd "$WORK" && "$BIN/snakemake" --snakefile "$OLDPWD/Snakefile" --cores 8 --resources gpu=1 \
    --configfile "$OLDPWD/configs/phoenix14t.yaml" "$OLDPWD/.test/paper-scale.yaml" "$WORK/cuda.yaml" \
    results/phoenix14t/paper/seed1/translate-pgp/best.safetensors)
grep -h "precision:\|epoch 1/1\|torch threads" "$WORK"/logs/phoenix14t/seed1/{pretrain,translate-pgp}.log
cp "$WORK"/logs/phoenix14t/seed1/{pretrain,translate-pgp}.log "$OUT/"

echo "== 3. torchrun + NCCL on every GPU"
NGPU="$("$PY" -c 'import torch; print(torch.cuda.device_count())')"
cat > "$WORK/ddp_check.py" <<'EOF'
import os, torch, torch.distributed as dist
from sign2gpt.training.distributed import init_distributed
info = init_distributed("cuda")  # joins the NCCL group when torchrun starts several processes
if not dist.is_initialized():  # one GPU: still check that NCCL initialises
    dist.init_process_group("nccl", init_method="env://", rank=0, world_size=1)
x = torch.ones(1, device=info.device) * (info.rank + 1)
dist.all_reduce(x)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 8).to(info.device), device_ids=[info.device.index or 0])
model(torch.randn(4, 8, device=info.device)).sum().backward()
print(f"rank {info.rank}/{dist.get_world_size()} on {info.device}: all_reduce {x.item()} "
      f"(expected {dist.get_world_size() * (dist.get_world_size() + 1) / 2}), backend {dist.get_backend()}")
dist.destroy_process_group()
EOF
"$BIN/torchrun" --standalone --nproc-per-node "$NGPU" "$WORK/ddp_check.py"
echo "== 4. loader workers and the float work on the GPU"
NCPU="$(nproc)"
"$PY" benchmarks/loader.py --device cuda --workers 1 2 $(( NCPU / 2 )) $(( NCPU - 1 )) --repeats 2 --json "$OUT/loader.json"
echo "== done: $OUT"
