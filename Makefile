# Two entry points: `make demo` and `make test`. Everything else is a helper.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv neo4j neo4j-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/linkgraph seed --persons 20000 --months 12 --out data/city

lint: $(STAMP)
	$(BIN)/ruff check src api tests bench
	$(BIN)/ruff format --check src api tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

neo4j: $(STAMP)
	$(BIN)/linkgraph neo4j start

neo4j-stop: $(STAMP)
	$(BIN)/linkgraph neo4j stop

clean:
	rm -rf $(VENV) data var
