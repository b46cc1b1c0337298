"""How much training data the embedded default's models need before pgp beats the reference rows.

    python benchmarks/data_size.py --train 40 80 160 --seeds 1 2 --workdir /tmp/data-size

For each training-set size the embedded default (config.yaml: the models and recipe the
`configs/video-folder.yaml` preset keeps) runs end to end on the synthetic corpus with that many
training sentences and the default's dev (100) and test (400) sets, in its own work folder. Read
from each report's paired bootstrap tests (test split, BLEU-4): does pgp beat the better reference
row (the text-only baseline or the gates-shut LM) — higher, p < 0.05 — on every seed? The smallest
size where it does is the answer. The last line printed is JSON; it is also written to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def run_size(train: int, seeds: list[int], work: Path, cores: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    overlay = work / "size.yaml"
    overlay.write_text(yaml.safe_dump({"synthetic": {"splits": {"train": train, "dev": 100, "test": 400}},
                                       "seeds": seeds}))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"), "--configfile",
           str(REPO / "config.yaml"), str(overlay), "--cores", str(cores)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=4 * 3600)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"train {train}: {' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return {"train": train, **read_result(work), "seconds": round(seconds, 1)}


def read_result(work: Path) -> dict:
    """pgp against the better reference row, per seed, from the report of the run in `work`."""
    report = json.loads(next((work / "results").glob("*/*/metrics.json")).read_text())
    sig = report["significance"]
    ref = sig["better_reference"]
    per_seed = {}
    for t in sig["tests"]:
        if t["system"] == "pgp" and t["baseline"] == ref:
            per_seed[str(t["seed"])] = {"delta_bleu4": round(t["bleu4"]["delta"], 2), "p": t["bleu4"]["p"],
                                        "beats": t["bleu4"]["delta"] > 0 and t["bleu4"]["p"] < sig["alpha"]}
    pgp = next(v for v in report["variants"] if v["variant"] == "pgp")["cells"]["test"]["bleu4"]
    return {"better_reference": ref, "pgp_vs_reference": per_seed,
            "pgp_test_bleu4": {s: round(v, 2) for s, v in pgp["values"].items()},
            "beats_on_every_seed": bool(per_seed) and all(r["beats"] for r in per_seed.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, nargs="+", default=[40, 80, 160], help="training-set sizes (sentences)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--workdir", type=Path, required=True, help="one sub-folder per size is made here")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    args = ap.parse_args()
    rows = []
    for train in sorted(args.train):
        row = run_size(train, args.seeds, args.workdir / f"train{train}", args.cores)
        print(json.dumps(row), flush=True)
        rows.append(row)
    smallest = next((r["train"] for r in rows if r["beats_on_every_seed"]), None)
    result = {"benchmark": "data_size", "seeds": args.seeds, "dev": 100, "test": 400, "sizes": rows,
              "smallest_train_where_pgp_beats_the_references_on_every_seed": smallest}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
