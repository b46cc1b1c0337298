"""Typed, frozen views of the configuration's sections, built once per stage.

Every value comes from config.yaml (plus presets and overlays), the one place defaults live: the
schema requires each key config.yaml always sets, and these classes have no defaults of their own.
A stage takes these objects instead of reading dicts with fallbacks, so a library default can no
longer disagree with the configuration; a missing or unknown key is a ConfigError naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from sign2gpt.core.errors import ConfigError

T = TypeVar("T")

# The one table of keys that change how a job runs, not what it outputs, per config section: no
# rule has them among its params (so changing one reruns nothing: workflow/rules/common.smk), the
# rules' functions (sign2gpt.stages) read them from the config (`run_only`), and a resumed training
# run may differ in them (the settings' fingerprints leave them out). Loader workers give the same
# results with any number (tested); pretrain keeps `localization_examples` maps for the report;
# `translate.variants` chooses which jobs exist; `evaluate.examples` is the report's.
RUN_ONLY: dict[str, tuple[str, ...]] = {
    "pretrain": ("num_workers", "micro_batch_size", "localization_examples"),
    "translate": ("num_workers", "micro_batch_size", "variants"),
    "evaluate": ("examples",),
}


def run_only(config: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The run-only keys of a config section, as a script hands them to its stage."""
    return {k: config[section][k] for k in RUN_ONLY[section]}


def from_section(cls: type[T], section: Mapping[str, Any] | T, where: str, *, ignore: tuple[str, ...] = ()) -> T:
    """`cls` from a config mapping with exactly its fields (`ignore`: keys of the section that belong
    to someone else); an instance of `cls` is returned as it is."""
    if isinstance(section, cls):
        return section
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in section]
    unknown = sorted(set(section) - set(names) - set(ignore))
    if missing:
        raise ConfigError(f"config section '{where}': missing key(s) {missing} (config.yaml sets every key)")
    if unknown:
        raise ConfigError(f"config section '{where}': unknown key(s) {unknown}; known: {names}")
    return cls(**{n: section[n] for n in names})


@dataclass(frozen=True)
class FrameSettings:
    """`frames:` which stored frames make a clip, and the training augmentation (spec §2.2-2.3)."""

    frame_stride: int
    max_frames: int | None
    augment: bool
    hflip: bool

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | FrameSettings) -> FrameSettings:
        return from_section(cls, section, "frames")

    def augment_config(self) -> dict[str, bool]:
        """The training augmentation as `SignDataset`'s augment_cfg."""
        return {"enabled": bool(self.augment), "hflip": bool(self.hflip)}


@dataclass(frozen=True)
class TrainSettings:
    """What both training stages share: the optimiser, the schedule, the batch (`batch_size`: the
    global batch of an optimizer step; `micro_batch_size`: how a process splits its share) and the
    loader workers."""

    epochs: int
    batch_size: int
    micro_batch_size: int | None
    lr: float
    weight_decay: float
    warmup_epochs: float
    min_lr_ratio: float
    clip_value: float | None
    clip_norm: float | None
    num_workers: int

    RUN_ONLY: ClassVar[tuple[str, ...]] = ()  # the section's entry of the RUN_ONLY table

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with its checkpoint."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.RUN_ONLY}


@dataclass(frozen=True)
class PretrainSettings(TrainSettings):
    """`pretrain:` stage 1's optimisation, loader workers and the maps it draws."""

    localization_examples: int

    RUN_ONLY: ClassVar[tuple[str, ...]] = RUN_ONLY["pretrain"]

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | PretrainSettings) -> PretrainSettings:
        return from_section(cls, section, "pretrain")


@dataclass(frozen=True)
class TranslateSettings(TrainSettings):
    """`translate:` of one variant; `epochs` is the variant's own (`z_epochs` for z)."""

    label_smoothing: float
    max_tokens: int
    lora: Mapping[str, Any]
    gate_lr_scale: float
    freeze_sign: bool
    memory_pe: str
    select_on: str
    select_every: int
    select_beam: int

    RUN_ONLY: ClassVar[tuple[str, ...]] = RUN_ONLY["translate"]

    @classmethod
    def for_variant(cls, section: Mapping[str, Any] | TranslateSettings, variant: str) -> TranslateSettings:
        """From the section (or the rule's params, which hold only the variant's epoch count)."""
        if isinstance(section, cls):
            return section
        key = "z_epochs" if variant == "z" else "epochs"
        if key not in section:
            raise ConfigError(f"config section 'translate': missing key '{key}' (the {variant} variant's epochs)")
        body = {k: v for k, v in section.items() if k not in ("epochs", "z_epochs", "variants")}
        return from_section(cls, {**body, "epochs": section[key]}, "translate")


@dataclass(frozen=True)
class ScoringSettings:
    """The scoring conventions of `evaluate:` (every score of a run uses them)."""

    lowercase: bool
    strip_final_period: bool

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | ScoringSettings) -> ScoringSettings:
        return from_section(cls, section, "evaluate", ignore=("beam", "max_tokens", "examples"))

    def conventions(self) -> dict[str, bool]:
        """The keyword arguments of `sign2gpt.evaluation.conventions.score`."""
        return {"lowercase": bool(self.lowercase), "strip_final_period": bool(self.strip_final_period)}


@dataclass(frozen=True)
class DecodingSettings(ScoringSettings):
    """What translate's dev search shares with the final evaluation: the conventions and the steps."""

    max_tokens: int

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | DecodingSettings) -> DecodingSettings:
        return from_section(cls, section, "evaluate", ignore=("beam", "examples"))


@dataclass(frozen=True)
class EvaluateSettings(DecodingSettings):
    """`evaluate:` the final beam search (`examples` is the report's)."""

    beam: int

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | EvaluateSettings) -> EvaluateSettings:
        return from_section(cls, section, "evaluate", ignore=("examples",))
