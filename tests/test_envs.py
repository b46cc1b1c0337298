"""The conda environments in envs/ pin the same versions as pyproject.toml, and every rule names one."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, _, version = dep.partition("==")
        assert version, f"pyproject.toml: {dep} is not pinned with =="
        pins[name.strip().lower()] = version.strip()
    return pins


def test_env_pins_match_pyproject():
    pins = _pyproject_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
        assert "python=3.11" in spec["dependencies"], env.name
        for line in pip:
            name, _, version = line.partition("==")
            name = name.strip().lower()
            assert name in pins, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert version == pins[name], f"{env.name}: {name}=={version}, pyproject.toml has {pins[name]}"


def test_every_rule_names_an_environment_a_log_and_a_benchmark():
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    rules = re.split(r"\n\s*rule (\w+):", text)[1:]
    names = rules[0::2]
    assert {"prepare", "decode", "pretrain", "translate", "evaluate", "report"} <= set(names)
    for name, body in zip(names, rules[1::2]):
        assert "conda:" in body, f"rule {name} has no conda: environment"
        assert "log:" in body, f"rule {name} has no log:"
        assert "benchmark:" in body, f"rule {name} has no benchmark:"
