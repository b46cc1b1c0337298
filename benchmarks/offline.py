"""How long a job takes to report a model that is not there, with the hub client offline (what
every sign2gpt job gets) and online (SIGN2GPT_ALLOW_DOWNLOAD=1), on a machine without network.

    .venv/bin/python benchmarks/offline.py [--model facebook/dinov2-small]

Each case is a fresh interpreter with an empty Hugging Face cache (HF_HOME in a temporary
folder) that asks for the backbone by hub id (`sign2gpt.models.spatial.build_backbone`) and
times the call until its error. Writes benchmarks/offline.json and prints the same JSON last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sign2gpt.core.io import write_json

HERE = Path(__file__).resolve().parent
CHILD = r'''
import json, sys, time
from sign2gpt.core.errors import Sign2GPTError
from sign2gpt.models.spatial import build_backbone
t0 = time.perf_counter()
try:
    build_backbone(sys.argv[1])
    outcome = "loaded"
except Sign2GPTError as e:
    outcome = type(e).__name__
print(json.dumps({"seconds": round(time.perf_counter() - t0, 2), "outcome": outcome}))
'''


def measure(model: str, allow_download: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "SIGN2GPT_ALLOW_DOWNLOAD")}
    with tempfile.TemporaryDirectory() as hf_home:
        env["HF_HOME"] = hf_home
        if allow_download:
            env["SIGN2GPT_ALLOW_DOWNLOAD"] = "1"
        out = subprocess.run([sys.executable, "-c", CHILD, model], capture_output=True, text=True, env=env, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="facebook/dinov2-small")
    ap.add_argument("--out", type=Path, default=HERE / "offline.json")
    args = ap.parse_args(argv)
    offline, online = measure(args.model, False), measure(args.model, True)
    result = {"benchmark": "offline", "model": args.model, "offline_s": offline["seconds"],
              "online_s": online["seconds"],
              "offline_outcome": offline["outcome"], "online_outcome": online["outcome"]}
    write_json(args.out, result)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
