# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/acquisition_vs_retention.yaml

.PHONY: demo test test-fast lint bench dashboard notebooks reference clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/relsim run $(SCENARIO) --overwrite

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

dashboard: $(VENV)/.installed
	$(BIN)/relsim dashboard

# Execute every lesson notebook in place at its lesson size (outputs are committed).
notebooks: $(VENV)/.installed-test
	$(BIN)/python tests/system/test_notebooks.py notebooks/*.ipynb

reference: $(VENV)/.installed
	$(BIN)/python -m simulation.runs.reference

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
