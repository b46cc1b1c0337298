"""The configuration is checked before any job runs, with a message naming the bad key."""

import copy

import pytest
import yaml

from sign2gpt.config import DEFAULT_CONFIG, REPO_ROOT, coerce_config, deep_merge, load_config, validate_config
from sign2gpt.errors import ConfigError


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
            "dataset": {"skip_bad_items": "true"}}
    merged = coerce_config(deep_merge(config, over))
    validate_config(merged)
    t = merged["translate"]
    assert (t["label_smoothing"], t["lr"], t["epochs"], t["variants"]) == (0.2, 1e-3, 3, ["pgp", "z"])
    assert merged["seeds"] == [1, 2, 3] and merged["experiment"] == "007"  # a string key stays a string
    assert merged["dataset"]["skip_bad_items"] is True
    bad = coerce_config(deep_merge(config, {"translate": {"label_smoothing": "lots"}}))
    with pytest.raises(ConfigError, match="translate.label_smoothing"):
        validate_config(bad)

