"""Per-module figures of the last `make mutation` run: how many of mutmut's edits each module's tests
killed, how many survived (every test still passed), and which functions the survivors are in.

    .venv/bin/python benchmarks/mutation_summary.py [--mutants mutants] [--survivors]

Reads mutmut's own records (mutants/**/*.py.meta) and its exit-code table, so the figures are the ones
`mutmut results` lists. Survival rate = survived / (killed + survived + timeout); mutants no selected
test calls ("no tests") are counted apart. The last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code


def module_figures(mutants: Path) -> dict[str, dict]:
    """{module path: {status: count, ..., survivors: [mutant names]}} from mutmut's .meta files."""
    figures = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        statuses = {name: status_by_exit_code[code] for name, code in codes.items()}
        counts = Counter(statuses.values())
        tested = counts["killed"] + counts["survived"] + counts["timeout"]
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        figures[module] = {**dict(sorted(counts.items())), "tested": tested,
                           "survival": round(counts["survived"] / tested, 3) if tested else None,
                           "survivors": sorted(n for n, s in statuses.items() if s == "survived")}
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's working copy")
    p.add_argument("--survivors", action="store_true", help="list every surviving mutant by name")
    args = p.parse_args()
    figures = module_figures(args.mutants)
    if not figures:
        raise SystemExit(f"no mutmut records under {args.mutants}/: run `make mutation` first")
    print(f"{'module':48s} {'mutants':>7s} {'killed':>6s} {'survived':>8s} {'no tests':>8s} {'survival':>8s}")
    for module, f in figures.items():
        total = sum(v for k, v in f.items() if isinstance(v, int) and k != "tested")
        rate = "-" if f["survival"] is None else f"{100 * f['survival']:.1f} %"
        print(f"{module:48s} {total:7d} {f.get('killed', 0):6d} {f.get('survived', 0):8d} "
              f"{f.get('no tests', 0):8d} {rate:>8s}")
        if args.survivors:
            for name in f["survivors"]:
                print(f"    {name}")
    killed = sum(f.get("killed", 0) + f.get("timeout", 0) for f in figures.values())
    survived = sum(f.get("survived", 0) for f in figures.values())
    print(json.dumps({"modules": {m: {k: v for k, v in f.items() if k != "survivors"} for m, f in figures.items()},
                      "killed": killed, "survived": survived,
                      "survival": round(survived / (killed + survived), 3) if killed + survived else None}))


if __name__ == "__main__":
    main()
