"""One source of defaults: config.yaml holds every value, the schema describes and requires every key
it always sets, and the stages read typed settings without fallbacks of their own."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
import yaml

from sign2gpt.core.config import DEFAULT_CONFIG, SCHEMA_PATH, _resolve, deep_merge, load_config, validate_config
from sign2gpt.core.errors import ConfigError
from sign2gpt.core.record import complete_stored_model
from sign2gpt.core.settings import (
    DecodingSettings,
    EvaluateSettings,
    FrameSettings,
    PretrainSettings,
    ScoringSettings,
    TranslateSettings,
)
from sign2gpt.models.sign_model import build_sign_model

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
# Receivers whose `.get(key, default)` reads data, not the configuration (a store's attributes, a
# checkpoint's state, metrics or pseudo-gloss JSON, the hardware found, what a stage reported), by the file
# that reads them; their keys may share a config key's name. The same name in another file is scanned.
STORED_DATA = {
    "src/sign2gpt/data/dataset.py": {"meta"},
    "src/sign2gpt/evaluation/evaluate.py": {"state['extra']['trainer']"},
    "src/sign2gpt/report/build.py": {"result", "m", "loc"},
    "src/sign2gpt/report/plots.py": {"cols"},
    "src/sign2gpt/report/run_card.py": {"extra", "hw"},
    "src/sign2gpt/report/tables.py": {"row"},
    "src/sign2gpt/text/pipelines.py": {"meta"},
    "src/sign2gpt/text/prototypes.py": {"data"},
    "src/sign2gpt/text/vocab_file.py": {"data"},
    "src/sign2gpt/training/pretrain.py": {"store.meta"},
}


def _properties(node: dict, path: str = ""):
    """(dotted key, schema node) of every property, depth first."""
    for key, sub in _resolve(node, SCHEMA).get("properties", {}).items():
        yield path + key, sub
        yield from _properties(sub, f"{path}{key}.")


def _schema_keys() -> set[str]:
    return {dotted.rsplit(".", 1)[-1] for dotted, _ in _properties(SCHEMA)}


def _section(tree: dict, dotted: str):
    """The value at a dotted path ("" is the whole tree)."""
    for part in dotted.split(".") if dotted else []:
        tree = tree[part]
    return tree


def test_every_schema_key_has_a_description():
    missing = [dotted for dotted, node in _properties(SCHEMA) if not _resolve(node, SCHEMA).get("description")]
    assert not missing, f"schema keys without a description: {missing}"


def test_the_schema_requires_what_config_yaml_sets():
    """Removing any key config.yaml sets fails validation, so no stage ever sees a section without
    it. Sections optional as a whole may be absent, but where present their keys are required too
    (`spatial.pretrain.lr`, `lm.pretrain.epochs`, ...)."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    optional = {"synthetic", "spatial.config", "spatial.lora", "spatial.pretrain", "lm.config", "lm.pretrain",
                "lm.vocab_size", "prototypes.train", "translate.lora"}  # read only in some configurations
    not_required = []
    for dotted, _ in _properties(SCHEMA):
        parent, _, key = dotted.rpartition(".")
        free_form = any(dotted.startswith(f + ".") for f in ("spatial.config", "lm.config"))  # transformers configs
        # spatial.lora shares the LoRA definition with translate.lora, where `layers` has no meaning; the
        # backbone builder names it when tune: lora lacks it
        if dotted in optional or free_form or dotted == "spatial.lora.layers" or parent.startswith("resources"):
            continue
        if not isinstance(_section(config, parent), dict) or key not in _section(config, parent):
            continue
        broken = copy.deepcopy(config)
        del _section(broken, parent)[key]
        try:
            validate_config(broken)
        except ConfigError:
            continue
        not_required.append(dotted)
    assert not not_required, f"config.yaml sets these, but the schema does not require them: {not_required}"


@pytest.mark.parametrize("preset", [None, "phoenix14t.yaml", "csldaily.yaml", "video-folder.yaml"])
def test_every_settings_object_builds_from_the_default_and_the_presets(preset):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    if preset:
        config = deep_merge(config, yaml.safe_load((REPO / "configs" / preset).read_text()))
    frames = FrameSettings.from_config(config["frames"])
    assert frames.frame_stride >= 1 and isinstance(frames.augment, bool)
    assert PretrainSettings.from_config(config["pretrain"]).epochs == config["pretrain"]["epochs"]
    for variant in config["translate"]["variants"]:
        settings = TranslateSettings.for_variant(config["translate"], variant)
        assert settings.epochs == config["translate"]["z_epochs" if variant == "z" else "epochs"]
    evaluate = EvaluateSettings.from_config(config["evaluate"])
    assert (evaluate.beam, evaluate.max_tokens) == (config["evaluate"]["beam"], config["evaluate"]["max_tokens"])
    assert DecodingSettings.from_config(config["evaluate"]).max_tokens == evaluate.max_tokens
    assert ScoringSettings.from_config(config["evaluate"]).conventions()["lowercase"] is evaluate.lowercase


def test_a_missing_or_unknown_key_is_named():
    frames = load_config()["frames"]
    with pytest.raises(ConfigError, match=r"'frames': missing key\(s\) \['hflip'\]"):
        FrameSettings.from_config({k: v for k, v in frames.items() if k != "hflip"})
    with pytest.raises(ConfigError, match=r"'frames': unknown key\(s\) \['stride'\]"):
        FrameSettings.from_config({**frames, "stride": 2})
    translate = load_config()["translate"]
    with pytest.raises(ConfigError, match="'z_epochs'"):
        TranslateSettings.for_variant({k: v for k, v in translate.items() if k != "z_epochs"}, "z")
    # the rule's params hold only the variant's own epoch count: enough
    assert TranslateSettings.for_variant({k: v for k, v in translate.items() if k != "epochs"}, "z").epochs == \
        translate["z_epochs"]


def test_settings_are_frozen():
    frames = FrameSettings.from_config(load_config()["frames"])
    with pytest.raises(AttributeError):
        frames.frame_stride = 3  # type: ignore[misc]


def config_defaults_in(path: Path, keys: set[str], stored: set[str] = frozenset()) -> list[str]:
    """`x.get("<config key>", default)`, `x.get("<config key>") or default` and
    `x["<config key>"] if "<config key>" in x else default` in `path`, where `x` is not one of the
    file's receivers of stored data (`stored`)."""
    tree = ast.parse(path.read_text(), str(path))

    def config_key(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in keys

    def config_get(node: ast.AST, nargs: int) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and len(node.args) == nargs and config_key(node.args[0])
                and ast.unparse(node.func.value) not in stored)

    def guarded_read(node: ast.AST) -> bool:  # cfg[k] if k in cfg else default
        test = getattr(node, "test", None)
        return (isinstance(node, ast.IfExp) and isinstance(node.body, ast.Subscript)
                and isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.In) and config_key(test.left)
                and ast.unparse(node.body.slice) == ast.unparse(test.left)
                and ast.unparse(node.body.value) not in stored)

    found = []
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
        hit = config_get(node, 2) or guarded_read(node) or (
            isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and config_get(node.values[0], 1))
        if hit:
            where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_stage_falls_back_on_a_default_of_its_own():
    keys = _schema_keys()
    sources = sorted((REPO / "src" / "sign2gpt").rglob("*.py")) + sorted((REPO / "workflow" / "scripts").glob("*.py"))
    unknown = set(STORED_DATA) - {str(path.relative_to(REPO)) for path in sources}
    assert not unknown, f"STORED_DATA names files that are not scanned: {unknown}"
    found = [hit for path in sources
             for hit in config_defaults_in(path, keys, STORED_DATA.get(str(path.relative_to(REPO)), set()))]
    assert not found, "config keys read with a fallback default (config.yaml sets them):\n" + "\n".join(found)


def test_the_scan_finds_a_fallback(tmp_path):
    """The check above can fail: fallbacks on a config section are reported in each form, stored data
    only where the file is said to read it."""
    probe = tmp_path / "probe.py"
    probe.write_text('def f(train, config, meta, data):\n'
                     '    return train.get("warmup_epochs", 5), meta.get("stride", 1), data.get("jpeg_quality", 90)\n'
                     'def g(config):\n    return config.get("gpus") or 1\n'
                     'def h(cfg):\n    return cfg["gpus"] if "gpus" in cfg else 0\n')
    assert config_defaults_in(probe, _schema_keys(), {"meta"}) == [
        "probe.py:2: train.get('warmup_epochs', 5)", "probe.py:2: data.get('jpeg_quality', 90)",
        "probe.py:4: config.get('gpus') or 1", "probe.py:6: cfg['gpus'] if 'gpus' in cfg else 0"]


def test_an_older_runs_stored_model_settings_still_build():
    """inference.json / model-folder config.json written before the strict settings lack some
    encoder and spatial keys; they are filled with the values the library used then."""
    config = load_config()
    old_encoder = {k: v for k, v in config["encoder"].items()
                   if k not in ("zero_pad_before_pool", "attention", "checkpointing", "pool_mask")}
    old_spatial = {k: v for k, v in config["spatial"].items() if k not in ("chunk_size", "checkpointing")}
    stored = complete_stored_model({"encoder": old_encoder, "spatial": old_spatial, "variant": "pgp"})
    assert stored["encoder"]["pool_mask"] == "any" and stored["encoder"]["zero_pad_before_pool"] is True
    assert stored["spatial"]["chunk_size"] is None and stored["spatial"]["pooling"] == config["spatial"]["pooling"]
    model = build_sign_model(stored["spatial"], stored["encoder"])
    assert model.encoder.pool_mask == "any" and not model.spatial.checkpointing
    with pytest.raises(KeyError):  # without the fill, the strict reads refuse the old section
        build_sign_model(old_spatial, old_encoder)


def test_the_run_only_table_names_keys_of_its_sections_and_fingerprints_leave_them_out():
    """One table (settings.RUN_ONLY) says which keys rerun nothing: each is a key config.yaml sets,
    run_only hands exactly those to a script, and a training fingerprint does not see them."""
    from sign2gpt.core.settings import RUN_ONLY, run_only

    config = load_config()
    for section, keys in RUN_ONLY.items():
        assert set(keys) <= set(config[section]), section
        assert run_only(config, section) == {k: config[section][k] for k in keys}
    pretrain = PretrainSettings.from_config(config["pretrain"])
    changed = PretrainSettings.from_config({**config["pretrain"], "num_workers": 7, "localization_examples": 1})
    assert pretrain.fingerprint() == changed.fingerprint()
    assert pretrain.fingerprint() != PretrainSettings.from_config({**config["pretrain"], "lr": 1.0}).fingerprint()
    translate = TranslateSettings.for_variant(config["translate"], "pgp")
    assert "num_workers" not in translate.fingerprint() and "lr" in translate.fingerprint()


def test_settings_objects_hold_the_sections_values():
    """Each field of a settings object is the section's value, for values other than config.yaml's
    too (a field dropped or defaulted on the way in would pass a test of config.yaml's values alone)."""
    import dataclasses

    config = load_config()
    frames = {"frame_stride": 3, "max_frames": 77, "augment": not config["frames"]["augment"],
              "hflip": not config["frames"]["hflip"]}
    pretrain = {**config["pretrain"], "epochs": 7, "lr": 0.123, "clip_norm": None, "localization_examples": 9}
    translate = {**config["translate"], "epochs": 5, "z_epochs": 11, "max_tokens": 33, "select_beam": 3}
    evaluate = {**config["evaluate"], "beam": 6, "max_tokens": 21, "lowercase": True}
    cases = [(FrameSettings.from_config(frames), frames), (PretrainSettings.from_config(pretrain), pretrain),
             (TranslateSettings.for_variant(translate, "pgp"), translate),
             (EvaluateSettings.from_config(evaluate), evaluate), (DecodingSettings.from_config(evaluate), evaluate),
             (ScoringSettings.from_config(evaluate), evaluate)]
    for settings, section in cases:
        for field in dataclasses.fields(settings):
            assert getattr(settings, field.name) == section[field.name], (type(settings).__name__, field.name)
    assert TranslateSettings.for_variant(translate, "z").epochs == 11
    # what scoring is handed, for both values of each switch
    for lowercase in (True, False):
        for strip in (True, False):
            scoring = ScoringSettings.from_config({**evaluate, "lowercase": lowercase, "strip_final_period": strip})
            assert scoring.conventions() == {"lowercase": lowercase, "strip_final_period": strip}
