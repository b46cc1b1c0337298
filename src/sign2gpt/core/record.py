"""What a trained translator is, in one typed record: its architecture, the preprocessing its videos
had, how it decodes, and where its frozen base models come from.

Training writes it (`inference.json` beside a variant's checkpoints); `sign2gpt translate --run`,
`sign2gpt export` and `from_pretrained` read it back (from `inference.json`, or from a model
folder's `config.json`). One record, so none of them converts another's dict shape, and this
layer needs no torch: the model code imports nothing of the applications that load it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sign2gpt.core.io import portable_path, read_json, resolve_portable_path, write_json

RUN_RECORD = "inference.json"  # the record's file in a trained variant's folder

# Keys that runs and exported model folders written before `frames:` and the strict settings
# (sign2gpt 0.1 before commit 8cbca48) may lack in their stored `encoder:` / `spatial:` sections, with
# the values the library filled in then: an older run or model folder still loads as it was trained.
STORED_BEFORE_STRICT = {
    "encoder": {"zero_pad_before_pool": True, "pool_mask": "any", "attention": "local", "checkpointing": False},
    "spatial": {"tune": "full", "chunk_size": None, "pooling": None, "checkpointing": False},
}


# A DINOv2 LoRA (tune: lora) stored before `spatial.lora.qkv`: one adapter per projection, then the only layout.
STORED_LORA_QKV = "separate"
# FC_m's positional encoding in a run or model folder stored before `translate.memory_pe`: the only one then.
STORED_MEMORY_PE = "sinusoidal"


def complete_stored_model(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored run's or model folder's settings with the keys older files lack filled as they were."""
    out = dict(stored)
    for section, filled in STORED_BEFORE_STRICT.items():
        if isinstance(out.get(section), Mapping):
            out[section] = {**filled, **out[section]}
    spatial = out.get("spatial")
    if isinstance(spatial, Mapping) and spatial.get("tune") == "lora" and "qkv" not in spatial["lora"]:
        out["spatial"] = {**spatial, "lora": {**spatial["lora"], "qkv": STORED_LORA_QKV}}
    out.setdefault("memory_pe", STORED_MEMORY_PE)
    return out


@dataclass(frozen=True)
class Preprocessing:
    """How a video becomes the model's clip: the decode stage's stride and size, the evaluation
    frames (every `frame_stride`-th stored frame, at most `max_frames`), the backbone's input size."""

    decode_stride: int
    decode_size: Any  # an int (square) or [height, width], as the decode section says
    frame_stride: int
    max_frames: int | None
    image_size: int


@dataclass(frozen=True)
class Decoding:
    """The beam search and the text conventions the reported scores used."""

    beam: int
    max_tokens: int
    lowercase: bool
    strip_final_period: bool


@dataclass(frozen=True)
class TranslatorRecord:
    variant: str  # scratch | pgp | z
    language: str
    seed: int
    lm: str  # the frozen LM: a hub id or a local folder (absolute once read)
    backbone: str | None  # the spatial backbone's pretrained weights (spatial.pretrained), or None
    pretrained: str | None  # the pseudo-gloss-pretrained checkpoint (pgp, z); a model folder carries its weights
    spatial: Mapping[str, Any]  # the backbone's architecture (the `spatial:` section less its source)
    encoder: Mapping[str, Any]
    lora: Mapping[str, Any]
    memory_pe: str  # FC_m's positional encoding (translate.memory_pe)
    freeze_sign: bool
    preprocessing: Preprocessing
    decoding: Decoding
    precision: str | None = None

    def base_models(self) -> set[str]:
        """The frozen base models the translator loads from elsewhere: the LM, and the backbone when pretrained."""
        return {b for b, source in (("lm", self.lm), ("backbone", self.backbone)) if source}

    def spatial_config(self) -> dict[str, Any]:
        """The `spatial:` section the model builders read (its source included)."""
        return {**self.spatial, "pretrained": self.backbone}

    # ---------------------------------------------------------------------------- a run's inference.json

    def write_run(self, folder: str | os.PathLike) -> Path:
        """`inference.json` in `folder`, its local paths relative to that folder (a moved or copied
        results folder still translates; hub ids as they are)."""
        out = Path(folder)
        local = lambda path: portable_path(path, out)  # noqa: E731
        pre, dec = self.preprocessing, self.decoding
        write_json(out / RUN_RECORD, {
            "variant": self.variant, "lm": local(self.lm), "pretrained": local(self.pretrained),
            "spatial": {**self.spatial, "pretrained": local(self.backbone)}, "encoder": dict(self.encoder),
            "frames": {"frame_stride": pre.frame_stride, "max_frames": pre.max_frames},
            "decode": {"stride": pre.decode_stride, "size": pre.decode_size},
            "lora": dict(self.lora), "memory_pe": self.memory_pe, "freeze_sign": self.freeze_sign,
            "evaluate": {"lowercase": dec.lowercase, "strip_final_period": dec.strip_final_period,
                         "max_tokens": dec.max_tokens, "beam": dec.beam},
            "language": self.language, "seed": self.seed, "precision": self.precision,
        })
        return out / RUN_RECORD

    @classmethod
    def read_run(cls, folder: str | os.PathLike) -> TranslatorRecord:
        """The record of a trained variant's folder, its local paths absolute again. Where the
        evaluate stage has scored the variant, its beam and length limit (what the reported
        scores used) replace the dev search's."""
        folder = Path(folder)
        s = complete_stored_model(read_json(folder / RUN_RECORD))
        spatial = dict(s["spatial"])
        backbone = resolve_portable_path(spatial.pop("pretrained", None), folder)
        decoding = dict(s["evaluate"])
        evaluated = folder.parent / f"eval-{s['variant']}" / "metrics.json"
        if evaluated.is_file():
            e = read_json(evaluated)
            decoding.update(beam=e["beam"], max_tokens=e["max_tokens"])
        return cls(
            variant=s["variant"], language=s["language"], seed=int(s["seed"]),
            lm=resolve_portable_path(s["lm"], folder), backbone=backbone,
            pretrained=resolve_portable_path(s.get("pretrained"), folder),
            spatial=spatial, encoder=dict(s["encoder"]), lora=dict(s["lora"]),
            memory_pe=s["memory_pe"], freeze_sign=bool(s["freeze_sign"]),
            preprocessing=Preprocessing(decode_stride=int(s["decode"]["stride"]), decode_size=s["decode"]["size"],
                                        frame_stride=int(s["frames"]["frame_stride"]),
                                        max_frames=s["frames"]["max_frames"],
                                        image_size=int(spatial["image_size"])),
            decoding=_decoding(decoding), precision=s.get("precision"),
        )

    # ---------------------------------------------------------------------------- a model folder's config.json

    def model_config(self, base_models: Mapping[str, Any], *, mean: list[float], std: list[float]) -> dict[str, Any]:
        """The record's part of an exported model folder's config.json; `base_models` names the
        frozen base models there (a hub id, a local folder, or a copy inside the folder)."""
        pre, dec = self.preprocessing, self.decoding
        return {
            "variant": self.variant, "language": self.language, "seed": self.seed, "base_models": dict(base_models),
            "spatial": {k: v for k, v in self.spatial.items() if k != "pretrain"},
            "encoder": dict(self.encoder), "lora": dict(self.lora), "memory_pe": self.memory_pe,
            "preprocessing": {"decode_stride": pre.decode_stride, "decode_size": pre.decode_size,
                              "frame_stride": pre.frame_stride, "max_frames": pre.max_frames,
                              "image_size": pre.image_size, "mean": list(mean), "std": list(std)},
            "decoding": {"beam": dec.beam, "max_tokens": dec.max_tokens},
            "evaluation": {"lowercase": dec.lowercase, "strip_final_period": dec.strip_final_period},
        }

    @classmethod
    def from_model_config(cls, config: Mapping[str, Any], folder: str | os.PathLike) -> TranslatorRecord:
        """The record of an exported model folder (its config.json, already checked): base models
        copied into the folder are read from there."""
        config = complete_stored_model(config)
        source = {b: str(Path(folder) / ref["path"]) if ref["copied"] else ref["source"]
                  for b, ref in config["base_models"].items()}
        pre = config["preprocessing"]
        return cls(
            variant=config["variant"], language=config["language"], seed=int(config["seed"]),
            lm=source["lm"], backbone=source.get("backbone"), pretrained=None,
            spatial=dict(config["spatial"]), encoder=dict(config["encoder"]), lora=dict(config["lora"]),
            memory_pe=config["memory_pe"], freeze_sign=False,
            preprocessing=Preprocessing(decode_stride=int(pre["decode_stride"]), decode_size=pre["decode_size"],
                                        frame_stride=int(pre["frame_stride"]), max_frames=pre["max_frames"],
                                        image_size=int(pre["image_size"])),
            decoding=_decoding({**config["decoding"], **config["evaluation"]}),
        )


def _decoding(section: Mapping[str, Any]) -> Decoding:
    return Decoding(beam=int(section["beam"]), max_tokens=int(section["max_tokens"]),
                    lowercase=bool(section["lowercase"]), strip_final_period=bool(section["strip_final_period"]))
