# Everything runs inside .venv, created on first use from the project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint run mlflow-ui bench bench-carparts bench-table5 clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks pipelines components
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks pipelines components
	$(BIN)/ruff format --check src tests benchmarks pipelines components

# The whole pipeline on the demo data with DVC (params.yaml: cpu preset, demo budget); a
# second run with nothing changed only checks hashes.
# Tracking: sqlite:///mlflow.db unless MLFLOW_TRACKING_URI is set; OPENPARTS_TRACKING=off skips it.
# When DVC reports nothing changed, no MLflow run is opened (an empty parent run helps nobody).
run: $(STAMP)
	@if PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc status -q; then echo "dvc: nothing changed since the last run"; else \
	parent=$$($(BIN)/openparts tracking start --name "make run"); \
	PATH="$(abspath $(BIN)):$$PATH" OPENPARTS_PARENT_RUN_ID="$$parent" $(BIN)/dvc repro; status=$$?; \
	if [ $$status -eq 0 ]; then $(BIN)/openparts tracking end "$$parent"; else $(BIN)/openparts tracking end "$$parent" --status FAILED; fi; \
	[ $$status -eq 0 ] || exit $$status; fi
	@$(BIN)/openparts metrics outputs/metrics.json
	@echo "report: outputs/evaluate/report.html    manifests: outputs/*/manifest.json    runs: make mlflow-ui"

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --host 127.0.0.1 --port 5000

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
