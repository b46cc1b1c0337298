"""Loading and validating the workflow configuration.

Snakemake reads `config.yaml` plus any `--configfile` overlays (deep-merged); the CLI does the
same through `load_config`. Both call `validate_config`, which checks the JSON schema and the
few rules a schema cannot express, and stops with a message that names the offending key.

Command-line values (`--config 'translate={label_smoothing: 0.2}'`, `--config seeds=[1,2,3]`)
reach the workflow as strings below the top level (Snakemake parses them with YAML's BaseLoader);
`coerce_config` turns a string into the number, boolean, list or null the schema asks for at
that key first, so the documented overrides work.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sign2gpt.core.batching import batch_plan
from sign2gpt.core.errors import ConfigError

# Shipped inside the package (a wheel install has no repository); the repository's `config.yaml`
# and `workflow/schemas/config.schema.yaml` are links to these files.
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SCHEMA_PATH = RESOURCES / "config.schema.yaml"
DEFAULT_CONFIG = RESOURCES / "config.yaml"
MOVED_TO_FRAMES = ("frame_stride", "max_frames", "augment", "hflip")  # from pretrain: (before 8cbca48)


# Rows of a learnable memory PE table (translate.memory_pe: learned_*): Z is never longer than a clip's
# frames.max_frames, which the semantic check bounds by it; models.memory_projection builds the table.
LEARNED_MEMORY_POSITIONS = 1024


def deep_merge(base: dict, overlay: Mapping) -> dict:
    """Recursively overlay `overlay` onto a copy of `base` (as Snakemake does for --configfile)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*paths: str | os.PathLike, base: str | os.PathLike | None = DEFAULT_CONFIG) -> dict:
    """Load the default config, overlay each file in order, validate."""
    config: dict = {}
    for path in ([base] if base else []) + list(paths):
        try:
            with open(path, encoding="utf-8") as f:
                overlay = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(overlay, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        config = deep_merge(config, overlay)
    validate_config(config)
    return config


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _resolve(node: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local `$ref`s ("#/definitions/a/properties/b") to the node they name; keywords beside a
    `$ref` (its `description`) are kept over the target's."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _coerce(value: Any, node: Mapping[str, Any] | None, schema: Mapping[str, Any]) -> Any:
    if node is None:
        return value
    node = _resolve(node, schema)
    if isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, item in value.items():
            value[key] = _coerce(item, props.get(key, extra if isinstance(extra, Mapping) else None), schema)
        return value
    if isinstance(value, list):
        items = node.get("items")
        return [_coerce(v, items, schema) for v in value] if isinstance(items, Mapping) else value
    kinds = node.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    if not isinstance(value, str) or not kinds or "string" in kinds:
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(parsed, str) and "number" in kinds:  # YAML 1.1 reads "1e-3" as a string
        try:
            parsed = float(value)
        except ValueError:
            return value
    return value if isinstance(parsed, str) else _coerce(parsed, node, schema)


def _read_schema(schema_path: str | os.PathLike) -> dict:
    with open(schema_path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def coerce_config(config: dict, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """Turn string values into what the schema expects at their key (in place; returns `config`)."""
    schema = _read_schema(schema_path)
    return _coerce(config, schema, schema)


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike = SCHEMA_PATH) -> None:
    """Raise ConfigError naming the first bad key (unknown key, wrong type, out of range)."""
    schema = _read_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors[:10]:
            where = _key_path(err)
            if err.validator == "additionalProperties":
                moved = [f"{where}.{k} is now frames.{k}" for k in MOVED_TO_FRAMES
                         if where == "pretrain" and f"'{k}'" in err.message]
                hint = f"; {', '.join(moved)}" if moved else ""
                lines.append(f"config key '{where}': {err.message} (unknown key{hint})")
            else:
                lines.append(f"config key '{where}': {err.message}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    _check_semantics(config)


def _check_semantics(config: Mapping[str, Any]) -> None:
    enc = config["encoder"]
    if enc["dim"] % enc["heads"]:
        raise ConfigError(
            f"config key 'encoder.dim': {enc['dim']} is not divisible by encoder.heads={enc['heads']}"
        )
    if (enc["dim"] // enc["heads"]) % 2:
        raise ConfigError("config key 'encoder.dim': the head size must be even for RoPE")
    if enc["window"] % 2 == 0:
        raise ConfigError(f"config key 'encoder.window': must be odd (a symmetric window), got {enc['window']}")
    if sum(enc["layers"]) == 0 and list(enc["layers"]) != [0]:
        raise ConfigError(f"config key 'encoder.layers': {enc['layers']} has no blocks; [0] is no encoder")
    ds = config["dataset"]
    if ds["kind"] != "synthetic" and not ds.get("root"):
        raise ConfigError(f"config key 'dataset.root': required for dataset.kind={ds['kind']}")
    if ds["kind"] == "synthetic" and "synthetic" not in config:
        raise ConfigError("config key 'synthetic': required when dataset.kind is synthetic")
    sp = config["spatial"]
    if sp.get("pretrained") is None and "config" not in sp:
        raise ConfigError("config key 'spatial.config': required when spatial.pretrained is null")
    if sp.get("tune") == "lora" and "lora" not in sp:
        raise ConfigError("config key 'spatial.lora': required when spatial.tune is lora")
    pg = config["pseudo_glosses"]
    if pg["file"] and pg["words"] != "content":
        raise ConfigError("config key 'pseudo_glosses.words': the authors' file holds their selected "
                          "pseudo-glosses; words: all needs the extraction (file: null)")
    lm = config["lm"]
    if lm.get("pretrained") is None and ("config" not in lm or "vocab_size" not in lm):
        raise ConfigError("config keys 'lm.config' and 'lm.vocab_size': required when lm.pretrained is null")
    translate = config["translate"]
    max_frames = config["frames"]["max_frames"]
    if translate["memory_pe"].startswith("learned") and not 0 < (max_frames or 0) <= LEARNED_MEMORY_POSITIONS:
        raise ConfigError(f"config key 'translate.memory_pe': a learned table covers {LEARNED_MEMORY_POSITIONS} "
                          f"positions, so frames.max_frames must be at most {LEARNED_MEMORY_POSITIONS} "
                          f"(is {max_frames})")
    variants = translate["variants"]
    if "z" in variants and "pretrain" not in config:
        raise ConfigError("config key 'pretrain': the z variant needs a pretrained encoder")
    for section in ("pretrain", "translate"):  # the global batch must split over the GPUs and micro-batches
        if section in config:
            train = config[section]
            batch_plan(train["batch_size"], train["micro_batch_size"], max(1, int(config["gpus"])),
                       section=section)
