"""The rule → function table: the one place that says which function of the package each rule of
the workflow runs. Every rule's script is `workflow/scripts/stage.py`, which looks its rule up
here and runs the function under the stage runner (`sign2gpt.app.stage_runner`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sign2gpt.core.errors import ConfigError

RULES: dict[str, str] = {
    "synthetic_corpus": "sign2gpt.stages.data:synthetic_corpus",
    "prepare": "sign2gpt.stages.data:prepare",
    "decode": "sign2gpt.stages.data:decode",
    "pseudo_glosses": "sign2gpt.stages.text:pseudo_glosses",
    "fasttext": "sign2gpt.stages.text:fasttext",
    "prototypes": "sign2gpt.stages.text:prototypes",
    "lm_pretrain": "sign2gpt.stages.lm:lm_pretrain",
    "spatial_pretrain": "sign2gpt.stages.pretrain:spatial_pretrain",
    "pretrain": "sign2gpt.stages.pretrain:pretrain",
    "cache_features": "sign2gpt.stages.pretrain:cache_features",
    "frame_features": "sign2gpt.stages.pretrain:frame_features",
    "translate": "sign2gpt.stages.translate:translate",
    "evaluate": "sign2gpt.stages.translate:evaluate",
    "baselines": "sign2gpt.stages.translate:baselines",
    "report": "sign2gpt.stages.report:report",
    "ablation_table": "sign2gpt.stages.report:ablation_table",
}


def stage_function(rule: str) -> Callable[[Any], None]:
    """The function rule `rule` runs (imported now, so its libraries load before the stage starts)."""
    if rule not in RULES:
        raise ConfigError(f"rule {rule!r} has no function in sign2gpt.app.rules.RULES (known: {sorted(RULES)})")
    module, _, name = RULES[rule].partition(":")
    return getattr(importlib.import_module(module), name)
