#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py: its steps, and what --cpu does), with the project's Python:
#   bash benchmarks/gpu_check.sh            # on a CUDA machine, from anywhere
#   bash benchmarks/gpu_check.sh --cpu      # every step on tiny shapes on the CPU (make test runs it)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PY:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3)"; fi
fi
exec "$PY" "$ROOT/benchmarks/gpu_check.py" "$@"
