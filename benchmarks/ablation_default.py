"""The default's ablation set (configs/ablations/default-table4.yaml) over seeds, as a benchmark.

Runs the set on the embedded default with the default's own budget (no epochs cut), plus the
reference rows (the most frequent training sentence; the frozen LM with its gates shut), and writes
benchmarks/ablation_default.{json,md}: the set's tables (ablation.json / ablation.md of the run),
the reference rows' test BLEU-4, whether the full method beats them on every seed, the command,
the commit and the wall time. The final line of stdout is a JSON summary.

    python benchmarks/ablation_default.py                       # seeds 1 2 3, ≈ 1 h on 2 cores
    python benchmarks/ablation_default.py --seeds 1 --workdir /tmp/ab --cores 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SET = REPO / "configs" / "ablations" / "default-table4.yaml"
DATA = "results/synthetic-de"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    return out.stdout.strip() + (" (uncommitted changes)" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sign2gpt-ablation-default"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ablation_default")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    seeds = "[" + ",".join(map(str, args.seeds)) + "]"
    baselines = f"{DATA}/default/baselines/metrics.json"  # the base experiment's reference rows
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"),
           "--cores", str(args.cores), "--rerun-incomplete",  # a run stopped part-way goes on where it was
           "--configfile", str(SET), "--config", f"seeds={seeds}", "--",
           f"{DATA}/table4/ablation.json", baselines]
    start = time.time()
    proc = subprocess.run(cmd, cwd=args.workdir, capture_output=True, text=True)
    wall = time.time() - start
    (args.workdir / "snakemake.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode:
        sys.exit(f"snakemake failed (log: {args.workdir / 'snakemake.log'}):\n{proc.stderr[-3000:]}")

    table = json.loads((args.workdir / DATA / "table4" / "ablation.json").read_text(encoding="utf-8"))
    rows = json.loads((args.workdir / baselines).read_text(encoding="utf-8"))["reference_rows"]
    reference = {name: round(r["splits"]["test"]["bleu4"], 2) for name, r in rows.items()}
    best_reference = max(reference.values())
    full = {}
    for t in table["tables"][:2]:  # scratch and pgp: the full method's test BLEU-4 per seed
        row = next(r for r in t["rows"] if r["experiment"] == "full")
        full[t["variant"]] = {s: c["score"] for s, c in row["ours"]["test"]["bleu4"]["seeds"].items()}
    beats = {v: all(x > best_reference for x in per_seed.values()) for v, per_seed in full.items()}
    result = {"benchmark": "ablation_default", "commit": commit(), "command": " ".join(["python", *sys.argv]),
              "snakemake": " ".join(cmd[1:]), "seeds": args.seeds, "wall_s": round(wall, 1),
              "reference_rows_test_bleu4": reference, "full_method_test_bleu4": full,
              "full_beats_reference_rows_on_every_seed": beats, "ablation": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    md = (args.workdir / DATA / "table4" / "ablation.md").read_text(encoding="utf-8")
    head = (f"Made by `{result['command']}` at {result['commit']} in {wall / 60:.0f} min "
            f"(snakemake {result['snakemake']}). Reference rows, test BLEU-4: "
            + ", ".join(f"{k} {v:.2f}" for k, v in reference.items())
            + "; the full method beats the better one on every seed: "
            + ", ".join(f"{v} {'yes' if b else 'no'}" for v, b in beats.items()) + ".\n\n")
    args.out.with_suffix(".md").write_text(md.replace("\n\n", "\n\n" + head, 1), encoding="utf-8")
    shutil.copy(args.workdir / DATA / "table4" / "ablation.csv", args.out.with_suffix(".csv"))
    print(json.dumps({k: v for k, v in result.items() if k != "ablation"}))


if __name__ == "__main__":
    main()
