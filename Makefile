# One short command per task. Everything installs itself from the lock file into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . \
	  || $(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

.PHONY: install demo test test-fast lint bench docs
install: $(STAMP)

demo: $(STAMP)  ## generate a demo bank, ingest it, build, and print where the results are
	$(BIN)/finpersona demo --customers $${CUSTOMERS:-10000}

test: $(STAMP)  ## the whole suite: DuckDB and Spark
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: $(STAMP)  ## DuckDB only
	$(BIN)/pytest -m "not spark and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/run.py --scale 1e4 1e5

docs: $(STAMP)  ## regenerate the generated documents
	$(BIN)/python -m finpersona.schema.docs > docs/data-model.md
