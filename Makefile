# latc — two commands: `make demo` and `make test`. Each creates the environment when missing.
SHELL := /bin/bash
VENV  ?= .venv
OUT   ?= out/demo
# Python 3.12 is required (the scverse omics stack needs >= 3.12). Found on PATH or under pyenv.
PYTHON ?= $(shell for p in python3.12 python3.13 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$p; break; fi; done)
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench fuzz lock env clean report-tools

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "latc needs Python >= 3.12 (python3.12 on PATH or under pyenv)"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.lock
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

env: $(STAMP)

## Run the whole pipeline on the bundled synthetic multicenter cohort.
demo: $(STAMP)
	$(VENV)/bin/latc demo --out $(OUT)

## Debian's chromium, poppler-utils and a CJK font (fonts-droid-fallback) for the report rendering
## tests (tests/test_report*.py) and the Chinese capture form in Chromium (tests/test_capture_i18n_browser.py).
## Idempotent; never fails: without apt (or root / passwordless sudo) those tests skip with a reason.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
report-tools:
	@if command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium poppler-utils fonts-droid-fallback) \
	    || echo "report-tools: could not install chromium/poppler-utils/fonts-droid-fallback; the Chromium/PDF tests will be skipped"; \
	else echo "report-tools: no apt-get; the Chromium/PDF report tests will be skipped"; fi

## Run the test suite (what CI runs).
test: $(STAMP) report-tools lint
	$(VENV)/bin/python -m pytest -n 2 -q

## Lint (ruff) and type check (mypy), configured in pyproject.toml; part of `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

## Include tests marked slow.
test-all: $(STAMP) report-tools lint
	$(VENV)/bin/python -m pytest -n 2 -q -m "slow or not slow"

## Benchmarks (wall time, peak memory, scaling) — see benchmarks/README.md.
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run.py

## Coverage-guided fuzzing of the readers and the validator (atheris), FUZZ_SECONDS per target — see benchmarks/README.md.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(VENV)/bin/python benchmarks/fuzz.py --seconds $(FUZZ_SECONDS) --target all

## Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(VENV)/bin/python -m pip install -q uv && $(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.12 -o requirements.lock

clean:
	rm -rf $(VENV) out
