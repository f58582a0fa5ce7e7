# Dunpai — the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	$(MAKE) system-deps
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages: SoftHSM2 (key custody tests), CJK fonts (PDF reports), espeak-ng (voice demo).
system-deps:
	@bash scripts/system-deps.sh

demo: $(STAMP)
	$(BIN)/dunpai demo --data-dir .dunpai-demo --json .dunpai-demo/demo.json

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .dunpai-demo .pytest_cache .mypy_cache .ruff_cache
