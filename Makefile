# Everything runs inside .venv, created on first use from the project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint run bench bench-carparts bench-table5 clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The whole pipeline on the demo data with DVC (params.yaml: cpu preset, demo budget); a
# second run with nothing changed only checks hashes.
run: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	@$(BIN)/openparts metrics outputs/metrics.json
	@echo "report: outputs/evaluate/report.html    stage manifests: outputs/*/manifest.json"

bench: $(STAMP)
	$(BIN)/python benchmarks/data_open.py
	$(BIN)/python benchmarks/evaluation_speed.py
	$(BIN)/python benchmarks/kmeans_speed.py
	$(BIN)/python benchmarks/model_speed.py --preset cpu --sizes 256 512

bench-carparts: $(STAMP)
	$(BIN)/python benchmarks/carparts_quality.py --work outputs/carparts --minutes 45

bench-table5: $(STAMP)
	$(BIN)/python benchmarks/table5.py --model outputs/carparts/model --work outputs/table5

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
