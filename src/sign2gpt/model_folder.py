"""A trained translator as a self-contained folder: `sign2gpt export` writes it, `from_pretrained`
reads it, without the run folder it came from (the Hugging Face `save_pretrained` layout, so
`hf upload` can publish it as is; nothing here uploads anything).

Layout:
- `config.json`: format, variant, language, the architecture (spatial backbone, sign encoder,
  LoRA), the preprocessing (decode stride and size, frame stride, max frames, image size,
  normalisation), the decoding settings, where the frozen base models come from, and the SHA-256
  of every file the loader reads;
- `model.safetensors`: every weight of the translator except the frozen base models' own weights
  (the LM's, and the spatial backbone's when it was frozen): the sign model, the LoRA adapters,
  the gated cross-attention, the memory projection;
- `tokenizer/`: the LM's tokenizer; `pseudo_gloss_vocab.json`: the pretraining vocabulary;
- `README.md`: a model card with the run's scores (and their bootstrap intervals), conventions
  and run card;
- `base/lm`, `base/backbone`: the frozen base models, only with `copy_base` (else config.json
  names them by hub id or by the local folder they were loaded from, and the card says so).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sign2gpt.data.augment import IMAGENET_MEAN, IMAGENET_STD
from sign2gpt.data.feature_cache import file_sha256
from sign2gpt.errors import DataError
from sign2gpt.io import atomic_path, read_json, write_json

log = logging.getLogger(__name__)

FORMAT = "sign2gpt-model-v1"
CONFIG, WEIGHTS, TOKENIZER, VOCAB, CARD = (
    "config.json", "model.safetensors", "tokenizer", "pseudo_gloss_vocab.json", "README.md"
)
BASE_PREFIXES = {"lm": "lm.lm.", "backbone": "sign_model.spatial.backbone."}  # state_dict names of the base models


def base_parameter_names(model: torch.nn.Module, bases: set[str]) -> set[str]:
    """The frozen parameters that belong to a base model in `bases` ("lm", "backbone"): loaded
    from that base model, so an export need not carry them."""
    prefixes = tuple(BASE_PREFIXES[b] for b in bases)
    return {n for n, p in model.named_parameters(remove_duplicate=False)
            if not p.requires_grad and n.startswith(prefixes)}


# ---------------------------------------------------------------------------------------------- export


def export_model(run: str | os.PathLike, out_dir: str | os.PathLike, *, variant: str = "pgp", seed: int | None = None,
                 copy_base: bool = False) -> Path:
    """Write the model folder of one trained variant of `run` (an experiment folder) to `out_dir`."""
    from sign2gpt.checkpoint import model_tensors, tensor_digest
    from sign2gpt.translate_video import VideoTranslator

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DataError(str(out), "exists and is not empty; choose a new folder")
    translator = VideoTranslator.from_run(run, variant=variant, seed=seed, device="cpu")
    settings = translator.settings  # inference.json with its paths resolved (read_inference_settings)
    sources = {"lm": settings["lm"], "backbone": settings["spatial"].get("pretrained")}
    bases = {b for b, src in sources.items() if src}

    with atomic_path(out, is_dir=True) as tmp:
        tensors = model_tensors(translator.model, exclude=base_parameter_names(translator.model, bases))
        with atomic_path(tmp / WEIGHTS) as weights:
            save_file(tensors, str(weights), metadata={"format": FORMAT, "sha256": tensor_digest(tensors, "")})
        translator.tokenizer.save_pretrained(str(tmp / TOKENIZER))
        base_refs = {b: _base_reference(b, src, tmp, copy_base) for b, src in sources.items() if src}
        vocab = _copy_vocabulary(Path(run), tmp)
        config = {
            "format": FORMAT, "variant": settings["variant"], "language": settings["language"],
            "seed": settings["seed"],
            "base_models": base_refs,
            "spatial": {k: v for k, v in settings["spatial"].items() if k not in ("pretrained", "pretrain")},
            "encoder": settings["encoder"], "lora": settings["lora"],
            "preprocessing": {"decode_stride": int(settings["decode"]["stride"]),
                              "decode_size": settings["decode"]["size"],
                              "frame_stride": int(settings["frames"]["frame_stride"]),
                              "max_frames": settings["frames"]["max_frames"],
                              "image_size": int(settings["spatial"]["image_size"]),
                              "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "decoding": {"beam": int(settings["evaluate"]["beam"]),
                         "max_tokens": int(settings["evaluate"]["max_tokens"])},
            "evaluation": {k: settings["evaluate"][k] for k in ("lowercase", "strip_final_period")},
            "weights": {"tensors": len(tensors), "parameters": int(sum(t.numel() for t in tensors.values())),
                        "left_to_base_models": sorted(bases)},
            "pseudo_gloss_vocabulary": vocab,
        }
        config["files"] = {name: file_sha256(tmp / name) for name in _hashed_files(tmp)}
        write_json(tmp / CONFIG, config)
        (tmp / CARD).write_text(model_card(config, Path(run)), encoding="utf-8")
    log.info("exported %s (%s, seed %s) to %s", run, variant, settings["seed"], out)
    return out


def _base_reference(base: str, source: str, dest_root: Path, copy: bool) -> dict[str, Any]:
    """How config.json names a frozen base model; with `copy`, the model is copied into base/."""
    from sign2gpt.lm.loading import resolve_model_dir

    local = Path(source).is_dir()
    if not copy:
        return {"source": str(Path(source).resolve()) if local else source, "copied": False}
    directory = Path(source) if local else resolve_model_dir(source)  # a hub id: from the local cache, never downloaded
    shutil.copytree(directory, dest_root / "base" / base, symlinks=False)
    return {"source": source if not local else Path(source).name, "copied": True, "path": f"base/{base}"}


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
                     "```", "", "```python", "from sign2gpt.translate_video import VideoTranslator",
                     "translator = VideoTranslator.from_pretrained(\"THIS_FOLDER\")",
                     "print(translator.translate(\"video.mp4\"))", "```", "", "## Base models", ""]
    for base, ref in bases.items():
        where = f"copied into `{ref['path']}`" if ref["copied"] else "not copied: it must be present where named"
        lines.append(f"- {base}: `{ref['source']}` ({where})")
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


# ---------------------------------------------------------------------------------------------- load


def read_model_folder(folder: str | os.PathLike) -> dict[str, Any]:
    """config.json of a model folder, after checking that every file it lists is there and unchanged."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file():
        raise DataError(str(folder / CONFIG), "missing: not a sign2gpt model folder (make one with `sign2gpt export`)")
    config = read_json(folder / CONFIG)
    if config.get("format") != FORMAT:
        raise DataError(str(folder / CONFIG), f"format {config.get('format')!r}, expected {FORMAT!r}")
    for name, digest in config.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise DataError(str(path), "missing from the model folder (incomplete copy?)")
        if file_sha256(path) != digest:
            raise DataError(str(path), "does not match the SHA-256 in config.json (changed or corrupt); "
                                       "refusing to load")
    if WEIGHTS not in config.get("files", {}):
        raise DataError(str(folder / WEIGHTS), "not listed in config.json's files")
    return config


def load_model_folder(folder: str | os.PathLike, *, device: str = "cpu"):
    """The model folder as a ready VideoTranslator (model, tokenizer, preprocessing) on `device`."""
    from transformers import AutoTokenizer

    from sign2gpt.models.build import build_translator
    from sign2gpt.models.sign_model import build_sign_model
    from sign2gpt.settings import complete_stored_model
    from sign2gpt.translate_video import VideoTranslator
    from sign2gpt.utils import resolve_device

    folder = Path(folder)
    config = complete_stored_model(read_model_folder(folder))
    dev = resolve_device(device)
    refs = config["base_models"]
    source = {b: str(folder / ref["path"]) if ref["copied"] else ref["source"] for b, ref in refs.items()}
    spatial = {**config["spatial"], "pretrained": source.get("backbone")}
    variant = config["variant"]
    # pgp and scratch share one architecture; the weights below replace every initialisation
    model, _ = build_translator("z" if variant == "z" else "scratch", lm=source["lm"], spatial=spatial,
                                encoder=config["encoder"], lora=config["lora"], device=dev)
    if variant == "z":  # z trained on cached features; the frozen pretrained sign model is part of the export
        model.sign_model = build_sign_model(spatial, config["encoder"]).to(dev)
    with safe_open(str(folder / WEIGHTS), framework="pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    result = model.load_state_dict(tensors, strict=False)
    absent = sorted(set(result.missing_keys) - base_parameter_names(model, set(refs)))
    if absent or result.unexpected_keys:
        raise DataError(str(folder / WEIGHTS), f"does not fit the architecture in config.json: missing {absent[:5]}, "
                                               f"unexpected {result.unexpected_keys[:5]}")
    tokenizer = AutoTokenizer.from_pretrained(str(folder / TOKENIZER), local_files_only=True)
    pre, dec = config["preprocessing"], config["decoding"]
    settings = {"variant": variant, "language": config["language"], "seed": config["seed"], "spatial": spatial,
                "decode": {"stride": pre["decode_stride"], "size": pre["decode_size"]},
                "frames": {"frame_stride": pre["frame_stride"], "max_frames": pre["max_frames"]},
                "evaluate": {**dec, **config["evaluation"]}}
    log.info("loaded model folder %s (%s)", folder, variant)
    return VideoTranslator(model.to(dev), tokenizer, settings, dev)
