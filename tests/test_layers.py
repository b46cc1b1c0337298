"""The library's layers point one way, read from every import statement (at module level or inside a
function): each module belongs to one layer of LAYERS and imports only from its own layer or lower
ones, and no set of modules imports itself in a circle. So a rule's conda environment needs only
what its own layer uses, the model code never reaches an application, and a change to the report
cannot break training."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from source_imports import PACKAGE, bindings, imports_of, module_file

# lowest first; a module is in the layer of the longest prefix that names it
LAYERS = [
    ("core", ["sign2gpt", "sign2gpt.core"]),  # torch-free: errors, io, config, settings, record, job resources, logs
    ("runtime", ["sign2gpt.runtime"]),  # torch: device, precision, checkpoint files, TensorBoard events
    ("blocks", ["sign2gpt.data", "sign2gpt.text", "sign2gpt.lm"]),
    ("models", ["sign2gpt.models"]),
    ("evaluation", ["sign2gpt.evaluation"]),
    ("training", ["sign2gpt.training"]),
    ("applications", ["sign2gpt.inference", "sign2gpt.report", "sign2gpt.translate_video"]),
    ("stages", ["sign2gpt.stages"]),  # what each rule runs (sign2gpt.app.rules.RULES is the table)
    ("app", ["sign2gpt.app"]),  # the command line, the rule table, the stage runner, preflight, rehearsal
]
TORCH_FREE = ("sign2gpt.core",)  # the stage runner imports torch only where installed (tests/test_envs.py)


def module_graph(src: Path, package: str) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, per import statement: `from p import m` of a
    submodule m is an edge to p.m, of a name defined in p an edge to p; `import p.m` an edge to p.m."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        name = ".".join(path.relative_to(src).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path

    def deepest(dotted: str) -> str | None:
        parts = dotted.split(".")
        return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules), None)

    graph = {}
    for name, path in modules.items():
        here = name + ".__init__" if path.name == "__init__.py" else name
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= {deepest(dotted) for _, dotted in bindings(node, here)}
        graph[name] = targets - {None, name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int | None:
    """The layer of the longest prefix naming `module`; the package itself ("sign2gpt") names only
    its own __init__, so a new top-level module has no layer until the table gives it one."""
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = prefix != "sign2gpt" and module.startswith(prefix + ".")
            if (module == prefix or below) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    return best[0] if best else None


GRAPH = module_graph(PACKAGE.parent, "sign2gpt")


def test_every_module_has_a_layer():
    assert not [m for m in GRAPH if layer_of(m) is None]
    assert layer_of("sign2gpt.utils") is None and layer_of("sign2gpt") == 0  # the check can fail


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
            for m, targets in sorted(graph.items()) for t in sorted(targets) if layer_of(t) > layer_of(m)]


def test_no_module_imports_from_a_higher_layer():
    assert not upward_imports(GRAPH), "\n".join(upward_imports(GRAPH))


def test_no_import_cycles():
    assert not cycles(GRAPH), cycles(GRAPH)


def test_the_checks_can_fail(tmp_path):
    """A planted cycle through a function-level import, and an upward import, are both found."""
    package = tmp_path / "probe"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text("def f():\n    from probe.high import b\n")
    (package / "high.py").write_text("from probe.low import a\nimport probe.low.a\n")
    (package / "b.py").write_text("from probe.low import a  # a submodule: an edge to a, not to probe.low\n")
    graph = module_graph(tmp_path, "probe")
    assert graph["probe.b"] == {"probe.low.a"}
    assert cycles(graph) == [["probe.high", "probe.low.a"]]
    assert cycles({"x": {"y"}, "y": set()}) == []
    # the import the model folders once needed: the model layer reaching an application
    model = "sign2gpt.models.translator"
    planted = {**GRAPH, model: GRAPH[model] | {"sign2gpt.inference.export"}}
    assert upward_imports(planted) == ["sign2gpt.models.translator (models) imports sign2gpt.inference.export "
                                       "(applications)"]


def test_the_scan_sees_imports_inside_functions():
    probe = PACKAGE / "training" / "loop.py"
    assert "sign2gpt.training.distributed.is_main" in imports_of(probe)
    assert "sign2gpt.runtime.tensorboard_log" in GRAPH["sign2gpt.training.spatial_pretrain"]


@pytest.mark.parametrize("prefix", TORCH_FREE)
def test_torch_free_modules_import_no_torch(prefix):
    bad = [f"{m} imports {name}" for m in GRAPH if m == prefix or m.startswith(prefix + ".")
           for name in imports_of(module_file(m))
           if name == "torch" or name.startswith("torch.")]
    assert not bad, bad


def test_stage_modules_do_not_load_spacy_or_matplotlib_and_core_loads_no_torch():
    """In a fresh interpreter: the training and evaluation stages import neither spaCy (only the text
    stages and a new sentence's pseudo-glosses need it) nor matplotlib (only the report); the core
    layer and the stage runner import no torch."""
    code = ("import sys, sign2gpt.core.config, sign2gpt.core.settings, sign2gpt.core.record, sign2gpt.core.io, "
            "sign2gpt.core.job_resources, sign2gpt.core.logs, sign2gpt.app.stage_runner; "
            "assert 'torch' not in sys.modules, 'core loads torch'; "
            "import sign2gpt.training.pretrain, sign2gpt.training.translate, sign2gpt.evaluation.evaluate, "
            "sign2gpt.training.cache_features; print(sorted(m for m in ('spacy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]
