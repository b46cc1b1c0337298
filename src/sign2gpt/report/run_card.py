"""The run card: what ran, where, with which software, and how long each stage took.

A number without its hardware, batch size, precision, versions and commit cannot be compared
or reproduced, so the report ships this card next to the metrics table. Stage times come from
Snakemake ``benchmark:`` files (TSV with the header ``s h:m:s max_rss max_vms max_uss max_pss
io_in io_out mean_load cpu_time``, one line per repeat; ``max_rss`` in MiB; "NA" or "-" where
Snakemake could not measure). JSON-lines benchmark files (``.jsonl``) are read too.
"""

from __future__ import annotations

import csv
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import write_json, write_text

log = logging.getLogger(__name__)

PACKAGES = ("sign2gpt", "torch", "transformers", "peft", "spacy", "sacrebleu", "snakemake",
            "numpy")
TRAINING_STAGES = ("pretrain", "translate")


# ----------------------------------------------------------------------------- hardware

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)  # kB -> GiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def hardware() -> dict:
    """The machine this card is collected on (the report job; training may have run elsewhere)."""
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


# ----------------------------------------------------------------------------- software

def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(repo_dir: str | os.PathLike | None = None) -> dict:
    """Commit and dirty flag of the working tree; None values when git or a commit is absent."""
    cwd = Path(repo_dir) if repo_dir else Path.cwd()

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                                 timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = run("rev-parse", "HEAD")
    if commit is None:
        log.warning("no git commit found in %s: the run card cannot name the code version", cwd)
    status = run("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


# ----------------------------------------------------------------------------- benchmarks

def _number(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # "NA", "-", empty
    return x


def read_benchmark(path: str | os.PathLike) -> dict:
    """Wall time (s, mean over repeats), peak RSS (MiB, max) and CPU time of one stage."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "benchmark file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise DataError(str(path), f"not JSON lines: {e}") from None
    else:
        records = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    if not records:
        raise DataError(str(path), "benchmark file has no measurements")
    if "s" not in records[0]:
        raise DataError(str(path), "benchmark file lacks the 's' (seconds) column")
    seconds = [_number(r.get("s")) for r in records]
    if any(s is None for s in seconds):
        raise DataError(str(path), "a value of the 's' column is not a number")
    rss = [x for x in (_number(r.get("max_rss")) for r in records) if x is not None]
    cpu = [x for x in (_number(r.get("cpu_time")) for r in records) if x is not None]
    wall = sum(seconds) / len(seconds)  # type: ignore[arg-type]
    return {
        "wall_s": round(wall, 2),
        "wall_hms": str(datetime.timedelta(seconds=round(wall))),
        "max_rss_mib": max(rss) if rss else None,
        "cpu_time_s": round(sum(cpu) / len(cpu), 2) if cpu else None,
        "repeats": len(records),
    }


# ----------------------------------------------------------------------------- the card

def _effective_batch_sizes(config: Mapping) -> dict:
    """Per training stage: batch per process x processes (config `gpus`, at least 1; there is no
    gradient accumulation)."""
    processes = max(1, int(config["gpus"]))
    out = {}
    for stage in TRAINING_STAGES:
        per_process = int(config[stage]["batch_size"])
        out[stage] = {"per_process": per_process, "processes": processes, "effective": per_process * processes}
    return out


def collect_run_card(
    benchmark_files: Mapping[str, str | os.PathLike],
    *,
    config: Mapping,
    extra: Mapping | None = None,
    repo_dir: str | os.PathLike | None = None,
) -> dict:
    """Gather the card. `benchmark_files` maps a stage label (e.g. "pretrain seed1") to its file.

    Precision is taken from ``extra["precision"]``, else ``config["precision"]``; the training
    stages should report what they used. Everything in `extra` is kept under "extra".
    """
    extra = dict(extra or {})
    stages = {label: read_benchmark(p) for label, p in benchmark_files.items()}
    dataset = config["dataset"]
    return {
        "generated_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "experiment": config["experiment"],
        "dataset": {k: dataset[k] for k in ("name", "kind", "language")},
        "seeds": list(config["seeds"]),
        "device": config["device"],
        "precision": extra.get("precision") or config["precision"],
        "effective_batch_size": _effective_batch_sizes(config),
        "hardware": hardware(),
        "stages": stages,
        "total_wall_s": round(sum(s["wall_s"] for s in stages.values()), 2),
        "versions": package_versions(),
        "git": git_state(repo_dir),
        "extra": extra,
    }


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def render_run_card_md(card: Mapping) -> str:
    """The card as Markdown: a summary list, the stage-time table, and the versions."""
    hw, git = card["hardware"], card["git"]
    commit = git.get("commit") or "not a git checkout"
    if git.get("commit") and git.get("dirty"):
        commit += " (uncommitted changes)"
    gpus = hw.get("gpus") or []
    lines = [
        "## Run card", "",
        f"- Generated: {card['generated_utc']}",
        f"- Experiment: {_fmt(card.get('experiment'))}; dataset: "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in card["dataset"].items()),
        f"- Seeds: {_fmt(card['seeds'])}",
        f"- Device setting: {_fmt(card.get('device'))}; precision: {_fmt(card['precision'])}",
        f"- Hardware (report job): {hw['cpu_model']}, {hw['cpu_cores']} cores"
        f" ({_fmt(hw.get('cpu_cores_usable'))} usable), {_fmt(hw.get('memory_gib'))} GiB RAM, "
        + (f"{len(gpus)} GPU(s): {', '.join(gpus)}" if gpus else "no GPU"),
        f"- Platform: {hw['platform']}, Python {hw['python']}",
        f"- Git commit: {commit}",
    ]
    for stage, b in card["effective_batch_size"].items():
        lines.append(f"- Effective batch size, {stage}: {b['effective']} "
                     f"({b['per_process']} per process × {b['processes']} process(es))")
    lines += ["", "### Stage times", "", "| Stage | Wall time | Seconds | Peak RSS (MiB) | CPU time (s) |",
              "|:---|---:|---:|---:|---:|"]
    for label, s in card["stages"].items():
        lines.append(f"| {label} | {s['wall_hms']} | {_fmt(s['wall_s'])} | "
                     f"{_fmt(s['max_rss_mib'])} | {_fmt(s['cpu_time_s'])} |")
    lines.append(f"| **total** | {datetime.timedelta(seconds=round(card['total_wall_s']))} | "
                 f"{_fmt(card['total_wall_s'])} | | |")
    lines += ["", "### Versions", "", "| Package | Version |", "|:---|:---|"]
    lines += [f"| {k} | {v or 'not installed'} |" for k, v in card["versions"].items()]
    if card.get("extra"):
        lines += ["", "### Other", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in card["extra"].items()]
    return "\n".join(lines) + "\n"


def write_run_card(card: Mapping, md_path: str | os.PathLike,
                   json_path: str | os.PathLike | None = None) -> None:
    """Write the card as Markdown (and JSON when asked), atomically."""
    write_text(md_path, render_run_card_md(card))
    if json_path is not None:
        write_json(json_path, dict(card))
