# Everything runs inside .venv, created on first use from the project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint run mlflow-ui image remote-s3 push pull watch experiment tables bench bench-memory bench-quality bench-carparts clean

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
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pipelines repro
	@$(BIN)/openparts metrics outputs/metrics.json
	@echo "report: outputs/evaluate/report.html    manifests: outputs/*/manifest.json    runs: make mlflow-ui"

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --host 127.0.0.1 --port 5000

# Container images (images/Dockerfile): $(IMAGE)-cuda and $(IMAGE)-cpu tagged with the package
# version; PUSH=1 pushes them and prints the registry digest to pin in OPENPARTS_IMAGE.
IMAGE ?= ghcr.io/openparts/openparts
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	@command -v docker >/dev/null || { echo "make image needs a Docker engine (docker not found)"; exit 2; }
	@docker info >/dev/null 2>&1 || { echo "make image needs a running Docker engine (docker info failed)"; exit 2; }
	@for variant in cuda cpu; do \
	  docker build -f images/Dockerfile --build-arg VARIANT=$$variant -t $(IMAGE)-$$variant:$(VERSION) . || exit 1; \
	  echo "$(IMAGE)-$$variant:$(VERSION) image id: $$(docker image inspect --format '{{.Id}}' $(IMAGE)-$$variant:$(VERSION))"; \
	  if [ "$(PUSH)" = 1 ]; then docker push $(IMAGE)-$$variant:$(VERSION) >/dev/null || exit 1; \
	    echo "pin: $$(docker image inspect --format '{{index .RepoDigests 0}}' $(IMAGE)-$$variant:$(VERSION))"; fi; \
	done

# DVC remote: the local ../.dvc-remote by default; `make remote-s3 URL=s3://bucket/prefix [ENDPOINT=https://...]`
# makes an S3 remote the default for this checkout (.dvc/config.local: machine settings stay out of git).
# Credentials come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or a profile.
remote-s3: $(STAMP)
	@test -n "$(URL)" || { echo "usage: make remote-s3 URL=s3://bucket/prefix [ENDPOINT=https://...]"; exit 2; }
	$(BIN)/openparts storage-check $(URL) $(if $(ENDPOINT),--endpoint-url $(ENDPOINT))
	$(BIN)/dvc remote add --local --force -d s3 $(URL)
	$(if $(ENDPOINT),$(BIN)/dvc remote modify --local s3 endpointurl $(ENDPOINT))

# push/pull the data and outputs DVC tracks; an S3 remote is checked first, so a wrong bucket says so.
push pull: $(STAMP)
	@remote=$$($(BIN)/dvc config core.remote); url=$$($(BIN)/dvc config remote.$$remote.url); \
	case "$$url" in s3://*) endpoint=$$($(BIN)/dvc config remote.$$remote.endpointurl 2>/dev/null); \
	$(BIN)/openparts storage-check "$$url" $${endpoint:+--endpoint-url $$endpoint} || exit 2;; esac
	$(BIN)/dvc $@

# Rerun what new pictures in data/unlabeled/ touch, polling every minute (Ctrl-C stops it).
watch: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pipelines watch --max-polls $${POLLS:-1000000} --interval $${INTERVAL:-60}

# A paper table as a named experiment (experiments/NAME.yaml): one `dvc exp run` per variant, all in the
# MLflow experiment openparts-NAME. DEMO=1 runs the variants on the demo data and preset (minutes);
# HOST=<KFP API> DATA_ROOT=s3://.../data submits them as KFP runs instead. `make tables` reports them.
experiment: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make experiment NAME=table2 [DEMO=1] [HOST=https://kfp.example DATA_ROOT=s3://bucket/data]"; exit 2; }
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pipelines experiment $(NAME) $(if $(DEMO),--demo) $(if $(HOST),--host $(HOST) --data-root $(DATA_ROOT))

# The paper's Tables 1-5 beside our runs of them (markdown, also in outputs/tables.md).
tables: $(STAMP)
	$(BIN)/openparts report tables --out outputs/tables.md

bench: $(STAMP)
	$(BIN)/python benchmarks/data_open.py
	$(BIN)/python benchmarks/evaluation_speed.py
	$(BIN)/python benchmarks/kmeans_speed.py
	$(BIN)/python benchmarks/baseline_speed.py
	$(BIN)/python benchmarks/model_speed.py --preset cpu --sizes 256 512
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m benchmarks.pipeline_speed --work outputs/bench-pipeline

# Peak memory of evaluating 1,000 and 5,000 synthetic images (issue 7: under 2 GB).
bench-memory: $(STAMP)
	$(BIN)/python benchmarks/evaluation_memory.py --work outputs/bench-memory

# Quality on the real data of ../shared/data: baselines, object-awareness ablation, OPS, class-aware vs
# agnostic, synthetic categories added; benchmarks/results/quality.md. Hours on 2 CPU cores (ITERATIONS
# training steps per model, 4 models), minutes on a GPU (QUALITY_ARGS="--parallel --set train.batch_size=16").
# The CPU recipe whose OPS beat the best baseline on both evaluation sets (cpu-quality-3400x4/README.md):
# ITERATIONS=3400 QUALITY_ARGS="--set train.batch_size=4" (each model 80-104 minutes on 2 cores).
bench-quality: $(STAMP)
	$(BIN)/python -m benchmarks.quality --work outputs/quality --iterations $${ITERATIONS:-2000} $(QUALITY_ARGS)

bench-carparts: $(STAMP)
	$(BIN)/python -m benchmarks.carparts_quality --work outputs/carparts --minutes 45

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
