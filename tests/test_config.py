"""The configuration is checked before any job runs, with a message naming the bad key."""

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sign2gpt.core.config import DEFAULT_CONFIG, coerce_config, deep_merge, load_config, validate_config
from sign2gpt.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def config():
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_default_and_presets_are_valid(config):
    validate_config(config)
    for preset in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        merged = deep_merge(config, yaml.safe_load(preset.read_text()))
        if merged["dataset"]["kind"] != "synthetic":
            merged["dataset"]["root"] = merged["dataset"]["root"] or "/data"
        validate_config(merged)
    validate_config(deep_merge(config, yaml.safe_load((REPO_ROOT / ".test/config.yaml").read_text())))


@pytest.mark.parametrize(
    "path, value, needle",
    [
        (("pretrain", "epochs"), "ten", "pretrain.epochs"),
        (("pretrain", "epochs"), 0, "pretrain.epochs"),
        (("encoder", "dropout"), 1.5, "encoder.dropout"),
        (("dataset", "kind"), "phoenix", "dataset.kind"),
        (("translate", "variants"), ["pgp", "best"], "translate.variants.1"),
        (("decode", "storage"), "png", "decode.storage"),
    ],
)
def test_bad_value_names_the_key(config, path, value, needle):
    cfg = copy.deepcopy(config)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        validate_config(cfg)


def test_unknown_key_is_rejected(config):
    cfg = copy.deepcopy(config)
    cfg["pretrain"]["epoch"] = 3  # typo of `epochs`
    with pytest.raises(ConfigError, match=r"pretrain.*'epoch'.*unknown key"):
        validate_config(cfg)


def test_semantic_rules(config):
    cfg = copy.deepcopy(config)
    cfg["encoder"]["heads"] = 3
    with pytest.raises(ConfigError, match="encoder.dim"):
        validate_config(cfg)
    cfg = copy.deepcopy(config)
    cfg["encoder"]["window"] = 6
    with pytest.raises(ConfigError, match="encoder.window"):
        validate_config(cfg)
    cfg = copy.deepcopy(config)
    cfg["dataset"]["kind"] = "phoenix14t"
    with pytest.raises(ConfigError, match="dataset.root"):
        validate_config(cfg)


def _drop(config: dict, dotted: str) -> dict:
    cfg = copy.deepcopy(config)
    *parents, key = dotted.split(".")
    section = cfg
    for p in parents:
        section = section[p]
    del section[key]
    return cfg


@pytest.mark.parametrize("change,needle", [
    ({"encoder": {"window": 4}}, "encoder.window"),  # even: refused (4 % 3 != 0, so not by accident)
    ({"encoder": {"dim": 30, "heads": 2}}, "head size must be even"),
    ({"encoder": {"layers": [0, 0]}}, "encoder.layers"),
    ({"pseudo_glosses": {"words": "all", "file": "processed_words.phx_pkl"}}, "pseudo_glosses.words"),
    ({"translate": {"memory_pe": "learned_zero"}, "frames": {"max_frames": 2048}}, "translate.memory_pe"),
    ({"spatial": {"pretrained": None, "tune": "lora"}, "drop": "spatial.lora"}, "spatial.lora"),
    ({"drop": "spatial.config"}, "spatial.config"),
    ({"drop": "lm.vocab_size"}, "lm.config' and 'lm.vocab_size"),
    ({"drop": "synthetic"}, "'synthetic'"),
    ({"pretrain": {"batch_size": 16, "micro_batch_size": 6}}, "pretrain"),
    ({"translate": {"batch_size": 16, "micro_batch_size": 6}}, "translate"),
    ({"gpus": 3, "pretrain": {"batch_size": 6, "micro_batch_size": None},
      "translate": {"batch_size": 16, "micro_batch_size": None}}, "translate.batch_size 16"),
])
def test_each_semantic_rule_refuses_its_case(config, change, needle):
    """Each rule fires on its own case and names its key (a rule turned around, or a check of the
    wrong section, lets a bad configuration through)."""
    change = dict(change)
    cfg = deep_merge(config, {k: v for k, v in change.items() if k != "drop"})
    if "drop" in change:
        cfg = _drop(cfg, change["drop"])
    with pytest.raises(ConfigError, match=needle):
        validate_config(cfg)


@pytest.mark.parametrize("change", [
    {"encoder": {"window": 9}},
    {"encoder": {"layers": [0]}},
    {"encoder": {"layers": [4], "attention": "global"}},
    {"pseudo_glosses": {"words": "all"}, "translate": {"memory_pe": "learned_random"}},
    {"spatial": {"tune": "full"}, "drop": "spatial.lora"},
    {"spatial": {"pretrained": "facebook/dinov2-small"}, "drop": "spatial.config"},
    {"lm": {"pretrained": "facebook/xglm-564M"}, "drop": "lm.vocab_size"},
    {"dataset": {"kind": "phoenix14t", "root": "data/PHOENIX-2014-T"}, "drop": "synthetic"},
    {"translate": {"variants": ["pgp"]}},
    {"gpus": 1, "translate": {"batch_size": 3, "micro_batch_size": 3}},
])
def test_what_the_rules_allow_passes(config, change):
    change = dict(change)
    cfg = deep_merge(config, {k: v for k, v in change.items() if k != "drop"})
    if "drop" in change:
        cfg = _drop(cfg, change["drop"])
    validate_config(cfg)


def test_load_config_overlays_deeply(tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text("pretrain: {epochs: 3}\n")
    cfg = load_config(overlay)
    assert cfg["pretrain"]["epochs"] == 3
    assert cfg["pretrain"]["batch_size"] == yaml.safe_load(DEFAULT_CONFIG.read_text())["pretrain"]["batch_size"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain: {epochs: -1}\n")
    with pytest.raises(ConfigError, match="pretrain.epochs"):
        load_config(bad)


def test_strings_become_what_the_schema_expects(config):
    """What `snakemake --config` hands over below the top level (YAML BaseLoader: all strings)."""
    base = yaml.BaseLoader
    over = {"translate": yaml.load("{label_smoothing: 0.2, lr: 1e-3, epochs: 3, variants: [pgp, z]}", Loader=base),
            "seeds": yaml.load("[1, 2, 3]", Loader=base), "experiment": "007",
            "dataset": {"skip_bad_items": "true"}, "frames": {"max_frames": "null"}, "spatial": {"chunk_size": "16"}}
    merged = coerce_config(deep_merge(config, over))
    validate_config(merged)
    t = merged["translate"]
    assert (t["label_smoothing"], t["lr"], t["epochs"], t["variants"]) == (0.2, 1e-3, 3, ["pgp", "z"])
    assert merged["seeds"] == [1, 2, 3] and merged["experiment"] == "007"  # a string key stays a string
    assert merged["dataset"]["skip_bad_items"] is True
    assert merged["frames"]["max_frames"] is None and merged["spatial"]["chunk_size"] == 16  # integer or null
    bad = coerce_config(deep_merge(config, {"translate": {"label_smoothing": "lots"}}))
    with pytest.raises(ConfigError, match="translate.label_smoothing"):
        validate_config(bad)



def test_a_frame_key_left_under_pretrain_says_where_it_went(config):
    config["pretrain"]["frame_stride"] = 2
    with pytest.raises(ConfigError, match="pretrain.frame_stride is now frames.frame_stride"):
        validate_config(config)


def test_repository_links_point_at_the_shipped_files():
    """config.yaml and the schema are kept once, in the package; the workflow's paths link to them."""
    assert (REPO_ROOT / "config.yaml").resolve() == DEFAULT_CONFIG
    assert (REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").resolve() == DEFAULT_CONFIG.with_name(
        "config.schema.yaml")


def test_check_config_from_a_wheel_install(tmp_path):
    """A non-editable install (a wheel, no repository beside it) carries the default config and the
    schema: `sign2gpt check-config` validates them and an overlay, and names a bad key."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):  # a copy of the tracked tree: the build writes build/
        if (REPO_ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, src / rel)  # follows the links, as an sdist would
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("sign2gpt-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("seeds: [4, 5]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("translate: {label_smoothing: lots}\n")
    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's package before the editable one
    code = ("import sys, sign2gpt; from sign2gpt.app.cli import main; print(sign2gpt.__file__); "
            "sys.argv = ['sign2gpt', 'check-config', *sys.argv[1:]]; sys.exit(main())")
    run = [sys.executable, "-c", code]
    ok = subprocess.run(run + [str(overlay)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].startswith(str(site)), ok.stdout  # not the repository's src/
    assert "seeds [4, 5]" in ok.stdout
    refused = subprocess.run(run + [str(bad)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "translate.label_smoothing" in refused.stdout + refused.stderr


def test_deep_merge_leaves_both_inputs_alone():
    """The merged config shares nothing with its inputs: a stage changing its copy (or a later
    overlay) cannot change the default or another run's config."""
    base, over = {"a": {"b": [1]}, "c": 1}, {"a": {"d": {"e": [2]}}}
    merged = deep_merge(base, over)
    assert merged == {"a": {"b": [1], "d": {"e": [2]}}, "c": 1}
    merged["a"]["b"].append(9)
    merged["a"]["d"]["e"].append(3)
    assert base == {"a": {"b": [1]}, "c": 1} and over == {"a": {"d": {"e": [2]}}}
