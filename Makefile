# Dunpai — the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE := build/.native
NATIVE_SOURCES := $(wildcard src/dunpai/risk/features/*.py) scripts/build_native.py

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

# The risk engine's hot path compiled with mypyc (pure Python runs when no compiler is present).
$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	mkdir -p build
	$(BIN)/python scripts/build_native.py > build/native.log 2>&1 || \
	  (echo "native build failed (see build/native.log): running the pure-Python engine"; \
	   $(BIN)/python scripts/build_native.py --clean)
	touch $(NATIVE)

demo: $(NATIVE)
	$(BIN)/dunpai demo --data-dir .dunpai-demo --out .dunpai-demo/demo.json

test: $(NATIVE)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(NATIVE)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) build .dunpai-demo .pytest_cache .mypy_cache .ruff_cache
	find src -name "*.cpython-*.so" -delete
