"""The conda environments in envs/ pin the same versions as pyproject.toml, every rule names one,
and each holds what its rules' code can import.

Snakemake's script preamble appends its own installation's sys.path to the job's interpreter (to
unpickle the `snakemake` object), so an env needs no snakemake; but that fallback also finds the
host's copy of a package the env lacks whenever the Python versions match, so a local run can hide
a missing package that breaks the job elsewhere. Hence a check on the source, not on a run."""

import ast
import atexit
import importlib.metadata
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from source_imports import module_file, reachable_imports

from sign2gpt.app.rules import RULES, stage_function
from sign2gpt.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
STAGE_SCRIPT = REPO / "workflow" / "scripts" / "stage.py"
# Functions and methods that rules' code refers to but no rule runs, so their imports are not
# followed (test_not_run_entries_are_still_needed keeps this list honest).
NOT_RUN = {
    "sign2gpt.text.vocab_file:PseudoGlossVocab.extract":
        "spaCy for a sentence the pseudo-gloss file lacks; rule pseudo_glosses writes every sentence of "
        "the three manifests, the ones pretrain reads",
}
# Imports a function makes only where the package is installed (`try: import x except ImportError`):
# a rule's env may lack them. {"module:function": (import, why)}
OPTIONAL = {
    "sign2gpt.app.stage_runner:follow_job_threads": (
        "torch", "torch's threads follow the job where torch is installed; the data, text and report envs lack it"),
}
# Imports that need a distribution besides their own package's (torch imports tensorboard there).
NEEDS_TOO = {"torch.utils.tensorboard": "tensorboard"}


def _pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, _, version = dep.partition("==")
        assert version, f"pyproject.toml: {dep} is not pinned with =="
        pins[name.strip().lower()] = version.strip()
    return pins


def _pip(env: Path) -> list[str]:
    spec = yaml.safe_load(env.read_text())
    assert "python=3.11" in spec["dependencies"], env.name
    return next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)


def test_env_pins_match_pyproject():
    pins = _pyproject_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        for line in _pip(env):
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


@dataclass(frozen=True)
class Rule:
    name: str
    env: Path
    script: Path  # what runs in the env: the rule's function (RULES) under the stage runner


PROBES = Path(tempfile.mkdtemp(prefix="sign2gpt-rule-probes-"))
atexit.register(shutil.rmtree, PROBES, ignore_errors=True)


def _probe(rule: str) -> Path:
    """What workflow/scripts/stage.py runs for `rule`, as a file the import scan can follow: the
    function RULES names and the stage runner (the table itself names every rule's function)."""
    module, _, function = RULES[rule].partition(":")
    path = PROBES / f"{rule}.py"
    path.write_text(f"from sign2gpt.app.stage_runner import run_stage\nfrom {module} import {function}\n\n"
                    f"run_stage\n{function}\n")
    return path


def _rules() -> list[Rule]:
    """Every rule of workflow/rules with its conda env and what its script runs (every rule's
    script is workflow/scripts/stage.py, which runs the function sign2gpt.app.rules.RULES names)."""
    found = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"\n\s*rule (\w+):", smk.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            conda = re.search(r"\bconda:\s*f?[\"']([^\"']+)[\"']", body)
            script = re.search(r"\bscript:\s*[\"']([^\"']+)[\"']", body)
            # a shell: or run: rule would need its own way to tell what runs in the env
            assert conda and script, f"rule {name}: no conda: env and script: this test can follow"
            assert (smk.parent / script[1]).resolve() == STAGE_SCRIPT, f"rule {name} runs {script[1]}"
            assert name in RULES, f"rule {name} is not in sign2gpt.app.rules.RULES"
            rule = Rule(name, REPO / "envs" / Path(conda[1]).name, _probe(name))
            assert rule.env.is_file(), rule
            found.append(rule)
    return found


def test_the_rule_table_names_every_rule_once_and_each_function_exists():
    assert sorted(r.name for r in _rules()) == sorted(RULES)
    for rule in RULES:
        assert callable(stage_function(rule)), rule
    with pytest.raises(ConfigError, match="no_such_rule"):
        stage_function("no_such_rule")


def _top_level(imports: dict[str, list[str]]) -> set[str]:
    return {name.partition(".")[0] for name in imports}


@cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _installed_with(names: set[str]) -> set[str]:
    """The distributions pip installs along with `names`: their requirements, transitively (as
    the metadata installed here states them)."""
    seen, todo = set(names), list(names)
    while todo:
        try:
            requires = importlib.metadata.requires(todo.pop()) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in map(Requirement, requires):
            name = canonicalize_name(req.name)
            if name not in seen and (req.marker is None or req.marker.evaluate({"extra": ""})):
                seen.add(name)
                todo.append(name)
    return seen


def missing_packages(rule: Rule, pip: list[str]) -> list[str]:
    """What the rule's code can import that `pip` (its env's list) does not provide, one line per
    distribution. A distribution pyproject.toml pins must be listed (so the env gets the pin); any
    other must at least come with one that is (huggingface_hub with transformers)."""
    listed = {canonicalize_name(line.partition("==")[0]) for line in pip}
    pinned = {canonicalize_name(name) for name in _pyproject_pins()}
    provided = listed | (_installed_with(listed) - pinned)
    lacking: dict[str, tuple[str, list[str]]] = {}  # distribution -> (an import needing it, how the rule gets there)
    for name, chain in reachable_imports(rule.script, NOT_RUN).items():
        module = name.partition(".")[0]
        if OPTIONAL.get(chain[-1], ("",))[0] == name:
            continue
        dists = _distributions().get(module, [module])
        needs = [next((d for d in dists if canonicalize_name(d) in provided), dists[0])]
        needs += [d for prefix, d in NEEDS_TOO.items() if name == prefix or name.startswith(prefix + ".")]
        for dist in needs:
            if canonicalize_name(dist) not in provided and (dist not in lacking or len(chain) < len(lacking[dist][1])):
                lacking[dist] = (name, chain)  # the shortest way there
    return [f"rule {rule.name} ({rule.env.relative_to(REPO)}) lacks {dist}"
            f"{'' if canonicalize_name(dist) in pinned else ' (nor does a package it lists require it)'}: "
            f"{chain[-1]} imports {name} ({' -> '.join(chain)})"
            for dist, (name, chain) in sorted(lacking.items())]


def test_env_headers_name_their_rules():
    """The `# Rules:` line atop each env names exactly the rules that use it."""
    for env in sorted((REPO / "envs").glob("*.yaml")):
        header = re.match(r"# Rules?: (.*)", env.read_text())
        assert header, f"{env.name}: no '# Rules:' line first"
        named, using = set(re.findall(r"\w+", header[1])), {r.name for r in _rules() if r.env == env}
        assert named == using, f"{env.name}: the header names {sorted(named)}, the rules using it are {sorted(using)}"


def test_every_rule_env_has_what_its_code_imports():
    """From each rule's script, through the package's functions and classes it can run (imports
    inside functions included), every third-party import is provided by the rule's env."""
    rules = _rules()
    assert {"prepare", "decode", "pseudo_glosses", "pretrain", "translate", "report"} <= {r.name for r in rules}
    problems = [p for rule in rules for p in missing_packages(rule, _pip(rule.env))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule_name, dropped, reported", [
    ("translate", "peft", "peft"),  # imported inside a method of a class the rule builds
    ("pretrain", "tensorboard", "torch.utils.tensorboard"),  # torch's SummaryWriter needs it
    ("decode", "eva-decord", "decord"),  # imported inside a function, as another name
    ("report", "matplotlib", "matplotlib"),
])
def test_the_check_reports_a_package_the_env_lacks(rule_name, dropped, reported):
    """The check itself: the rule's env list less one package it needs is reported, by name."""
    rule = next(r for r in _rules() if r.name == rule_name)
    pip = [line for line in _pip(rule.env) if canonicalize_name(line.partition("==")[0]) != dropped]
    assert len(pip) == len(_pip(rule.env)) - 1
    problems = missing_packages(rule, pip)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"rule {rule_name} (envs/{rule.env.name}) lacks {dropped}:"), problems
    assert f" imports {reported}" in problems[0], problems


def test_an_unpinned_import_passes_only_with_a_package_that_requires_it():
    """huggingface_hub (imported by sign2gpt.lm.loading, pinned by no one) passes because the
    torch env's transformers and peft require it; with torch alone it is reported."""
    rule = next(r for r in _rules() if r.name == "baselines")
    problems = missing_packages(rule, [line for line in _pip(rule.env) if line.startswith("torch==")])
    assert any(p.startswith("rule baselines (envs/torch.yaml) lacks huggingface_hub (nor does a package it lists")
               for p in problems), problems


def test_the_scan_follows_calls_not_whole_files():
    """A function-level import counts when a rule can call its function: prototypes reaches
    fastText through run_prototypes -> load_fasttext. pretrain imports the same module (for
    load_prototypes, which reads the saved vectors) and so does not."""
    assert "fasttext" in _top_level(reachable_imports(_probe("prototypes"), NOT_RUN))
    assert "fasttext" not in _top_level(reachable_imports(_probe("pretrain"), NOT_RUN))


def test_not_run_entries_are_still_needed():
    """Each NOT_RUN entry names a function or method that exists and that, followed, would bring
    some rule an import it does not make otherwise (an entry that changes nothing is stale)."""
    rules = _rules()
    imports = {r.name: set(reachable_imports(r.script, NOT_RUN)) for r in rules}
    for entry in NOT_RUN:
        module, _, qualname = entry.partition(":")
        defs = {n.name: n for n in ast.parse(module_file(module).read_text()).body if hasattr(n, "name")}
        owner, _, method = qualname.partition(".")
        assert owner in defs, entry
        assert not method or method in {getattr(n, "name", None) for n in defs[owner].body}, entry
        others = set(NOT_RUN) - {entry}
        assert any(set(reachable_imports(r.script, others)) - imports[r.name] for r in rules), f"{entry} is stale"


def test_optional_imports_are_guarded():
    """Each OPTIONAL entry imports its package inside a `try` that catches its ImportError."""
    for entry, (package, _) in OPTIONAL.items():
        module, _, name = entry.partition(":")
        tree = ast.parse(module_file(module).read_text())
        function = next(n for n in tree.body if getattr(n, "name", None) == name)
        guarded = [t for t in ast.walk(function) if isinstance(t, ast.Try)
                   and any(isinstance(n, ast.Import) and n.names[0].name == package for n in t.body)
                   and any(ast.unparse(h.type) in ("ImportError", "ModuleNotFoundError") for h in t.handlers)]
        assert guarded, entry


def test_stages_without_torch_run_without_it(tmp_path):
    """The stage runner and a data stage's code run in an interpreter where torch cannot be imported
    (as in envs/data.yaml); the log says so."""
    import subprocess
    import sys

    code = f"""
import sys, importlib.abc
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("no torch here", name=name)
sys.meta_path.insert(0, NoTorch())
from types import SimpleNamespace
from sign2gpt.app.stage_runner import run_stage
import sign2gpt.data.decode, sign2gpt.data.ingest, sign2gpt.text.prototypes, sign2gpt.report.build
smk = SimpleNamespace(log=[{str(tmp_path / 'x.log')!r}], threads=1, rule="decode", output=[])
with run_stage(smk):
    pass
print("torch" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "False" and "(1 threads, no torch)" in (tmp_path / "x.log").read_text()
