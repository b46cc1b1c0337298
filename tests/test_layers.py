"""The library's layers point one way (read from every import, at module level or inside a function):
the building blocks (data, text, models, lm) import no stage; evaluation imports no training; no
training stage imports the report or matplotlib. So a rule's conda environment needs only what its
own layer uses, and a change to the report cannot break training."""

from __future__ import annotations

import pytest
from source_imports import PACKAGE, imports_of

FORBIDDEN = {  # package -> imports it must not make
    "data": ("sign2gpt.training", "sign2gpt.evaluation", "sign2gpt.report", "matplotlib"),
    "text": ("sign2gpt.training", "sign2gpt.evaluation", "sign2gpt.report", "matplotlib"),
    "models": ("sign2gpt.training", "sign2gpt.evaluation", "sign2gpt.report", "matplotlib"),
    "lm": ("sign2gpt.training", "sign2gpt.evaluation", "sign2gpt.report", "matplotlib"),
    "evaluation": ("sign2gpt.training", "sign2gpt.report", "matplotlib"),
    "training": ("sign2gpt.report", "matplotlib"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer):
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in sorted(imports_of(path)):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_scan_sees_imports_inside_functions(tmp_path):
    """The check itself: a function-level relative import is found (so the test above can fail)."""
    probe = PACKAGE / "training" / "loop.py"
    assert "sign2gpt.training.distributed.is_main" in imports_of(probe)
    assert any(n.startswith("sign2gpt.tensorboard_log")
               for n in imports_of(PACKAGE / "training" / "spatial_pretrain.py"))


def test_stage_modules_do_not_load_spacy_or_matplotlib():
    """The training and evaluation stages import neither spaCy (only the text stages and a new
    sentence's pseudo-glosses need it) nor matplotlib (only the report), in a fresh interpreter."""
    import subprocess
    import sys

    code = ("import sys, sign2gpt.training.pretrain, sign2gpt.training.translate, sign2gpt.evaluation.evaluate, "
            "sign2gpt.training.cache_features; print(sorted(m for m in ('spacy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    assert out.strip() == "[]", out

