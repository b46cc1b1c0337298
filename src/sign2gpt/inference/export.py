"""`sign2gpt export`: one trained variant of a run as a model folder (its layout:
`sign2gpt.inference.model_folder`), with a model card that carries the run's scores."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path, file_sha256, read_json, write_json
from sign2gpt.data.augment import IMAGENET_MEAN, IMAGENET_STD
from sign2gpt.inference.model_folder import (
    CARD,
    CONFIG,
    FORMAT,
    TOKENIZER,
    VOCAB,
    WEIGHTS,
    base_parameter_names,
)
from sign2gpt.inference.video_translator import VideoTranslator
from sign2gpt.runtime.checkpoint import model_tensors, tensor_digest

log = logging.getLogger(__name__)

LICENCE_FILES = ("NOTICE*", "LICENSE*", "LICENCE*", "*TERMS*")  # in a base model's folder


def export_model(run: str | os.PathLike, out_dir: str | os.PathLike, *, variant: str = "pgp", seed: int | None = None,
                 copy_base: bool = False) -> Path:
    """Write the model folder of one trained variant of `run` (an experiment folder) to `out_dir`."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DataError(str(out), "exists and is not empty; choose a new folder")
    translator = VideoTranslator.from_run(run, variant=variant, seed=seed, device="cpu")
    record = translator.record
    sources = {"lm": record.lm, "backbone": record.backbone}
    bases = record.base_models()

    with atomic_path(out, is_dir=True) as tmp:
        tensors = model_tensors(translator.model, exclude=base_parameter_names(translator.model, bases))
        with atomic_path(tmp / WEIGHTS) as weights:
            save_file(tensors, str(weights), metadata={"format": FORMAT, "sha256": tensor_digest(tensors, "")})
        translator.tokenizer.save_pretrained(str(tmp / TOKENIZER))
        base_refs = {b: _base_reference(b, src, tmp, copy_base) for b, src in sources.items() if src}
        vocab = _copy_vocabulary(Path(run), tmp)
        config = {
            "format": FORMAT,
            **record.model_config(base_refs, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD)),
            "weights": {"tensors": len(tensors), "parameters": int(sum(t.numel() for t in tensors.values())),
                        "left_to_base_models": sorted(bases)},
            "pseudo_gloss_vocabulary": vocab,
        }
        config["files"] = {name: file_sha256(tmp / name) for name in _hashed_files(tmp)}
        write_json(tmp / CONFIG, config)
        (tmp / CARD).write_text(model_card(config, Path(run)), encoding="utf-8")
    log.info("exported %s (%s, seed %s) to %s", run, variant, record.seed, out)
    return out


def _base_reference(base: str, source: str, dest_root: Path, copy: bool) -> dict[str, Any]:
    """How config.json names a frozen base model; with `copy`, the model is copied into base/."""
    from sign2gpt.lm.loading import resolve_model_dir

    local = Path(source).is_dir()
    licences = copy_licences(Path(source), dest_root, base) if local else {}
    if not copy:
        return {"source": str(Path(source).resolve()) if local else source, "copied": False, **licences}
    directory = Path(source) if local else resolve_model_dir(source)  # a hub id: from the local cache, never downloaded
    shutil.copytree(directory, dest_root / "base" / base, symlinks=False)
    return {"source": source if not local else Path(source).name, "copied": True, "path": f"base/{base}", **licences}


def copy_licences(directory: Path, dest_root: Path, base: str) -> dict[str, list[str]]:
    """A base model folder's licence and notice files, copied to `licences/<base>/` whether or not the
    model itself is: the Gemma Terms of Use ask every distribution of Gemma or of a model derivative
    (adapters trained on it) to carry a copy of the terms and a notice. {"licences": [paths]} or {}."""
    found = sorted({p for pattern in LICENCE_FILES for p in directory.glob(pattern) if p.is_file()})
    if not found:
        return {}
    (dest_root / "licences" / base).mkdir(parents=True, exist_ok=True)
    for path in found:
        shutil.copyfile(path, dest_root / "licences" / base / path.name)
    return {"licences": [f"licences/{base}/{p.name}" for p in found]}


def _copy_vocabulary(run: Path, dest: Path) -> str | None:
    """The pseudo-gloss vocabulary of the run's dataset (results/<dataset>/text/), when present."""
    path = run.parent / "text" / "pseudo_glosses.json"
    if not path.is_file():
        log.warning("no pseudo-gloss vocabulary at %s: the export goes without it", path)
        return None
    write_json(dest / VOCAB, {"vocab": list(read_json(path)["vocab"])})
    return VOCAB


def _hashed_files(root: Path) -> list[str]:
    """Every file under root (relative, sorted), base models excluded (they are big and named)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).parts[0] != "base")


# ---------------------------------------------------------------------------------------------- card


def model_card(config: dict[str, Any], run: Path) -> str:
    """README.md of the model folder: how to use it, its scores, conventions, base models, run card."""
    variant, seed, language = config["variant"], config["seed"], config["language"]
    bases = config["base_models"]
    front = ["---", "library_name: sign2gpt", f"language: [{language}]", "tags: [sign-language-translation, sign2gpt]"]
    hub = [ref["source"] for ref in bases.values()
           if "/" in str(ref["source"]) and not str(ref["source"]).startswith("/")]
    if hub:
        front.append(f"base_model: [{', '.join(hub)}]")
    lines = front + ["---", "",
                     f"# Sign2GPT translator: {run.parent.name}/{run.name}, variant `{variant}`, seed {seed}", "",
                     "Gloss-free sign language translation (Sign2GPT, Wong et al., ICLR 2024), exported by "
                     "`sign2gpt export` from a finished run of the sign2gpt workflow.", "", "## Use", "", "```bash",
                     "sign2gpt translate --model THIS_FOLDER video.mp4 [more videos, a folder of videos, "
                     "or a .csv list]",
                     "```", "", "```python", "from sign2gpt.inference.video_translator import VideoTranslator",
                     "translator = VideoTranslator.from_pretrained(\"THIS_FOLDER\")",
                     "print(translator.translate(\"video.mp4\"))", "```", "", "## Base models", ""]
    for base, ref in bases.items():
        where = f"copied into `{ref['path']}`" if ref["copied"] else "not copied: it must be present where named"
        terms = (f"; its licence and notices, which apply to this folder too: "
                 f"{', '.join(f'`{p}`' for p in ref['licences'])}") if ref.get("licences") else ""
        lines.append(f"- {base}: `{ref['source']}` ({where}{terms})")
    lines += ["", "## Scores", ""]
    lines += _scores_table(run / f"seed{seed}" / f"eval-{variant}" / "metrics.json")
    lines += ["", "## Preprocessing and decoding", "", f"- {config['preprocessing']}", f"- {config['decoding']}",
              f"- evaluation text conventions: {config['evaluation']}", ""]
    card = run / "run_card.md"
    lines += card.read_text(encoding="utf-8").splitlines() if card.is_file() else ["(no run card in the run folder)"]
    return "\n".join(lines) + "\n"


def _scores_table(path: Path) -> list[str]:
    if not path.is_file():
        return [f"(no evaluation at {path.name} in the run folder)"]
    splits = read_json(path)["splits"]
    keys = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
    rows = ["| split | sentences | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | ROUGE-L |",
            "|:---|---:|---:|---:|---:|---:|---:|"]
    for split, m in splits.items():
        ci = m.get("intervals", {})
        cells = [f"{m[k]:.2f}" + (f" [{ci[k]['low']:.2f}, {ci[k]['high']:.2f}]" if k in ci else "") for k in keys]
        rows.append(f"| {split} | {m.get('n', '')} | " + " | ".join(cells) + " |")
    return rows + ["", "95% bootstrap intervals in brackets (sacreBLEU's resampling, 1,000 resamples); "
                       f"BLEU signature `{next(iter(splits.values())).get('signature', '')}`."]
