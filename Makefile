# Two entry points: `make demo` and `make test`. Everything else is a helper.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv neo4j neo4j-stop clean browser-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/linkgraph demo --persons 20000 --months 12

lint: $(STAMP)
	$(BIN)/ruff check src api tests bench
	$(BIN)/ruff format --check src api tests bench
	$(BIN)/mypy

test: lint browser-deps
	$(BIN)/pytest

# Chromium for tests/e2e/test_browser.py (driven by playwright, never `playwright install`),
# and a CJK font so Chinese captions in its screenshots are legible.
browser-deps:
	command -v chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	fc-list :lang=zh | grep -q . || (apt-get update -qq && apt-get install -y -qq fonts-wqy-zenhei) \
		|| echo 'warning: no CJK font: Chinese captions in Browser screenshots show as boxes'

neo4j: $(STAMP)
	$(BIN)/linkgraph neo4j start

neo4j-stop: $(STAMP)
	$(BIN)/linkgraph neo4j stop

clean:
	rm -rf $(VENV) data var
