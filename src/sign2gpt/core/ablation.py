"""Ablation sets: several experiments, each an overlay of one base configuration, run as one workflow.

The `ablation:` section of a configuration names its experiments (overlays of the rest of the
configuration) and the tables they fill. The workflow runs each experiment in
results/<dataset>/<set>/<experiment>/ and shares every stage an experiment does not change: the
dataset's stages (decoding, the LM, the backbone the workflow makes) are always shared, since an
overlay may not change them; the text stages (pseudo-glosses, prototypes) and pseudo-gloss
pretraining (with its Z cache) are shared between the experiments whose settings for them are equal:
each such stage has a *home*, the first experiment (in the set's order) with those settings, and
every other experiment reads the home's files. A translation-only row therefore reuses the full
method's pretraining, and a row that only changes `translate:` trains no pretraining at all.

Without an `ablation:` section the workflow has one experiment, `experiment:`, its own home: the
same code path, the same folders as always.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sign2gpt.core.config import deep_merge, validate_config
from sign2gpt.core.errors import ConfigError
from sign2gpt.core.settings import RUN_ONLY

# What an overlay may change: the sections only experiments read (a key named here with None: the
# whole section; else only those keys). Everything else (the dataset, decoding, the LM and backbone
# the workflow trains, the fastText model, resources, seeds, the evaluation's conventions) is the
# set's, so every row is scored on the same data by the same rules.
OVERLAY_KEYS: dict[str, tuple[str, ...] | None] = {
    "frames": None,
    "pseudo_glosses": None,
    "spatial": ("pretrained", "tune", "lora", "image_size", "pooling", "chunk_size", "checkpointing"),
    "encoder": None,
    "pgp_head": None,
    "pretrain": None,
    "translate": None,
    "lm": ("pretrained",),
}
# The settings each shared stage reads (besides the dataset's, which every experiment shares).
TEXT_SECTIONS = ("pseudo_glosses",)
PRETRAIN_SECTIONS = ("frames", "spatial", "encoder", "pgp_head", "pretrain")
TEXT_HOME = "text"  # the base configuration's text stages: results/<dataset>/text/
RESERVED_NAMES = frozenset({"raw", "manifest", "frames", "text", "lm", "spatial", "benchmarks"})  # results/<dataset>/
BACKBONE_KEYS = ("pretrained", "config", "image_size", "pooling")  # what a frozen backbone's features depend on
TRANSLATION_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
LOCALIZATION_METRICS = ("precision", "recall", "f1")


@dataclass(frozen=True)
class Experiment:
    """One experiment of the run: its name (results/<dataset>/<name>/), full configuration, the
    translation variants it trains and evaluates, whether a table reads its pretraining's
    localization scores, and the homes of its text stages and of its pretraining."""

    name: str
    config: dict[str, Any]
    variants: tuple[str, ...]
    localization: bool
    text_home: str
    pretrain_home: str
    frame_features_home: str | None = None  # None: the stages read the frames (the backbone trains)

    @property
    def pretrains(self) -> bool:
        """Whether the experiment reads a pretraining (its own or its home's)."""
        return self.localization or bool({"pgp", "z"} & set(self.variants))


def experiment_name(set_name: str, row: str) -> str:
    """A row's experiment: results/<dataset>/<set>/<row>/."""
    return f"{set_name}/{row}"


def _check_overlay(row: str, overlay: Any) -> None:
    """Refuse an overlay that changes a setting shared by the whole set, naming the key."""
    where = f"ablation.experiments.{row}"
    if not isinstance(overlay, Mapping):
        raise ConfigError(f"config key '{where}': an overlay must be a mapping of config sections, got {overlay!r}")
    for section, value in overlay.items():
        if section not in OVERLAY_KEYS:
            raise ConfigError(
                f"config key '{where}.{section}': an ablation row may not change '{section}' (the whole set shares "
                f"it); rows may change {sorted(OVERLAY_KEYS)}")
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{where}.{section}': must be a mapping, got {value!r}")
        allowed = OVERLAY_KEYS[section]
        for key in value:
            if (allowed is not None and key not in allowed) or key in RUN_ONLY.get(section, ()):
                raise ConfigError(
                    f"config key '{where}.{section}.{key}': the whole set shares it (set it in the base "
                    "configuration); a row changes what is trained, not how the run is carried out")
    for section, made in (("lm", "LM"), ("spatial", "backbone")):
        if "pretrained" in overlay.get(section, {}) and not overlay[section]["pretrained"]:
            raise ConfigError(f"config key '{where}.{section}.pretrained': a row may name another pretrained "
                              f"{made}, not the one the workflow makes (that is the base configuration's)")


def _settings(config: Mapping[str, Any], sections: tuple[str, ...]) -> str:
    """The settings a stage reads, as one comparable string (run-only keys left out)."""
    return json.dumps({s: {k: v for k, v in config[s].items() if k not in RUN_ONLY.get(s, ())} for s in sections},
                      sort_keys=True, default=str)


def _needs(ablation: Mapping[str, Any]) -> dict[str, tuple[set[str], bool]]:
    """Per row: the translation variants its tables read, and whether a localization table reads it."""
    needs: dict[str, tuple[set[str], bool]] = {row: (set(), False) for row in ablation["experiments"]}
    for t, table in enumerate(ablation["tables"]):
        reference = table.get("reference")
        rows = [r["experiment"] for r in table["rows"]]
        for row in rows + ([reference] if reference else []):
            if row not in needs:
                raise ConfigError(f"config key 'ablation.tables[{t}]': experiment {row!r} is not one of "
                                  f"ablation.experiments ({sorted(needs)})")
        if reference and reference not in rows:
            raise ConfigError(f"config key 'ablation.tables[{t}].reference': {reference!r} is not a row of the table")
        for row in rows:
            variants, pretrain = needs[row]
            if table["kind"] == "translation":
                if "variant" not in table:
                    raise ConfigError(f"config key 'ablation.tables[{t}].variant': a translation table names "
                                      "the variant it reads (scratch, pgp or z)")
                variants.add(table["variant"])
            else:
                needs[row] = (variants, True)
        unknown = set(table["metrics"]) - set(TRANSLATION_METRICS if table["kind"] == "translation"
                                              else LOCALIZATION_METRICS)
        if unknown:
            raise ConfigError(f"config key 'ablation.tables[{t}].metrics': {sorted(unknown)} are not "
                              f"{table['kind']} metrics")
    unused = [row for row, (variants, pretrain) in needs.items() if not variants and not pretrain]
    if unused:
        raise ConfigError(f"config key 'ablation.experiments': {unused} appear in no table")
    return needs


def experiments(config: Mapping[str, Any]) -> dict[str, Experiment]:
    """Every experiment the configuration runs, in order, with the homes of its shared stages.

    Raises ConfigError naming the row whose overlay is refused or whose configuration is invalid."""
    ablation = config.get("ablation")
    if not ablation:
        name = config["experiment"]
        variants = tuple(config["translate"]["variants"])
        return {name: Experiment(name, dict(config), variants, True, TEXT_HOME, name,
                                 name if caches_frame_features(config) else None)}
    if ablation["name"] in RESERVED_NAMES:
        raise ConfigError(f"config key 'ablation.name': {ablation['name']!r} is a folder of the dataset's stages "
                          f"(results/<dataset>/{ablation['name']}/); choose another name")
    needs = _needs(ablation)
    base = {**config, "ablation": None}  # a row is one experiment
    out: dict[str, Experiment] = {}
    text_homes: dict[str, str] = {_settings(base, TEXT_SECTIONS): TEXT_HOME}
    pretrain_homes: dict[str, str] = {}
    feature_homes: dict[str, str] = {}
    for row, overlay in ablation["experiments"].items():
        _check_overlay(row, overlay or {})
        name = experiment_name(ablation["name"], row)
        variants, localization = needs[row]
        cfg = deep_merge(base, overlay or {})
        cfg["translate"]["variants"] = sorted(variants) or list(base["translate"]["variants"])
        try:
            validate_config(cfg)
        except ConfigError as exc:
            raise ConfigError(f"ablation row {row!r}: {exc}") from None
        cfg["experiment"] = name  # <set>/<row> (the schema's `experiment` is one folder name)
        text_home = text_homes.setdefault(_settings(cfg, TEXT_SECTIONS), f"{name}/text")
        pretrain_home = pretrain_homes.setdefault(text_home + _settings(cfg, PRETRAIN_SECTIONS), name)
        backbone = json.dumps({k: cfg["spatial"].get(k) for k in BACKBONE_KEYS}, sort_keys=True, default=str)
        features_home = feature_homes.setdefault(backbone, name) if caches_frame_features(cfg) else None
        out[name] = Experiment(name, cfg, tuple(sorted(variants)), localization, text_home, pretrain_home,
                               features_home)
    return out


def caches_frame_features(config: Mapping[str, Any]) -> bool:
    """Whether the experiment's stages read a frame-feature cache instead of the frames: a frozen,
    pretrained backbone (the workflow's own or a named one) and no augmentation of the frames make
    each frame's feature a fixed function of it (sign2gpt.data.frame_features)."""
    spatial = config["spatial"]
    return (spatial["tune"] == "frozen" and not config["frames"]["augment"]
            and bool(spatial["pretrained"] or spatial.get("pretrain")))


def text_configs(exps: Mapping[str, Experiment], base: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each text home and the configuration its stages read (the base's for results/<dataset>/text)."""
    homes: dict[str, Mapping[str, Any]] = {TEXT_HOME: base}
    for exp in exps.values():
        homes.setdefault(exp.text_home, exp.config)
    return homes


def one_of(names: Iterable[str]) -> str:
    """A regular expression (a wildcard constraint) matching exactly these names."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


def describe(exps: Mapping[str, Experiment]) -> str:
    """One line per experiment: what it runs and whose pretraining and text stages it reads."""
    lines = []
    for exp in exps.values():
        runs = list(exp.variants) + (["localization"] if exp.localization else [])
        if not exp.pretrains:
            shared = "no pretraining"
        else:
            own = exp.pretrain_home == exp.name
            shared = "its own pretraining" if own else f"the pretraining of {exp.pretrain_home}"
            shared += ", its own text stages" if exp.text_home == f"{exp.name}/text" else ""
        lines.append(f"{exp.name}: {', '.join(runs)}; {shared}")
    return "\n".join(lines)
