# Two entry points (README): `make demo` runs the main job on the embedded synthetic default,
# `make test` runs the test suite. Both create/refresh .venv with the pinned constraints.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUTPUT ?= outputs/demo

.PHONY: venv demo test test-slow bench mutate clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: venv
	$(BIN)/python train.py --output_dir $(OUTPUT)

test: venv
	$(BIN)/python -m pytest -q

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

# Mutation testing of the scoring core, patching, window blending and leaderboard validation
# (tests/mutation.py; figures in TESTING.md). Takes long: run on demand, not in CI.
mutate: venv
	$(BIN)/python -m pip install -q -c constraints.txt mutmut
	$(BIN)/python tests/mutation.py

bench: venv
	$(BIN)/python bench/data_loading.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/models.py

clean:
	rm -rf $(VENV) outputs
