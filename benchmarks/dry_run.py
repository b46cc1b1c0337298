"""How long a no-op `snakemake -n` takes on a finished run, against Snakemake's own start-up.

    python benchmarks/dry_run.py --workdir /path/to/a/finished/clone     # after `make run` there
    python benchmarks/dry_run.py --workdir RUN -- --snakefile S --configfile C   # extra snakemake options

Both commands run --repeats times, alternated; the best of each is reported. `snakemake -n` plans
the whole DAG (every job's inputs, outputs, params and code checked); `snakemake --version` is the
interpreter plus Snakemake's imports. The last line printed is JSON; it is also written to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from_repo = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=from_repo, help="a checkout whose `make run` has finished")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    ap.add_argument("snakemake_args", nargs="*", help="after --: options for `snakemake -n` (e.g. --snakefile)")
    args = ap.parse_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    dry, version = [], []
    for _ in range(args.repeats):
        seconds, output = timed([snakemake, "-n", *args.snakemake_args], args.workdir)
        if "Nothing to be done" not in output:
            raise SystemExit(f"{args.workdir} is not a finished run: `snakemake -n` plans jobs:\n{output[-2000:]}")
        dry.append(seconds)
        version.append(timed([snakemake, "--version"], args.workdir)[0])
    result = {"benchmark": "no-op dry run vs snakemake start-up", "dry_run_s": round(min(dry), 2),
              "startup_s": round(min(version), 2), "planning_s": round(min(dry) - min(version), 2),
              "repeats": args.repeats}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
