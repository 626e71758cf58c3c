# `make report` and `make test` set up everything they need from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup report test bench bench-engine bench-report bench-scale bench-shards leaderboard leaderboard-reseed design-study sequence clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "make: $(PYTHON) is" \
	    "not a Python 3.11 or newer on this machine. The project is tested on 3.11 (README says why); to use" \
	    "another interpreter name it, e.g. make PYTHON=python3.12 $(MAKECMDGOALS)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name unlearning --display-name "Python (unlearning)"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv, install the project and register its Jupyter kernel

report: $(STAMP)  ## execute the notebook on the default parameters and render reports/default/unlearning.html
	$(BIN)/python -m nbutils run -f parameters/default.yaml --name default

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP)  ## time training against the seed's loop, and the challenge score; appends to benchmarks/results.md
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_challenge.py

bench-report: $(STAMP)  ## the default report's wall time against the seed notebook's, side by side
	$(BIN)/python benchmarks/bench_report.py

bench-engine: $(STAMP)  ## training and fine-tuning against the engine before issue 24 (068add5), side by side
	$(BIN)/python benchmarks/bench_engine.py

bench-shards: $(STAMP)  ## SISA's cost and accuracy by request size and shard count: benchmarks/shards.md, .csv, .png
	$(BIN)/python benchmarks/shards.py

# bench-scale BENCH_AGAINST=<commit> runs the report at that commit too, side by side (713ff6d: the engine issue 15
# started from)
BENCH_AGAINST ?=

bench-scale: $(STAMP)  ## the default report on 10,000 to 1,000,000 synthetic rows, side by side with BENCH_AGAINST
	$(BIN)/python benchmarks/bench_scale.py $(if $(BENCH_AGAINST),--against $(BENCH_AGAINST))

# the leaderboard's master seed: every run's train_seed (models, method draws, random forget sets)
SEED ?= 0
WORKERS = $(if $(SCHEDULER),--scheduler $(SCHEDULER),--workers 2)

leaderboard: $(STAMP)  ## every method on eight scenarios, fresh models: benchmarks/leaderboard.md, .csv, .png, -cd.png
	$(BIN)/python -m nbutils sweep parameters/sweeps/leaderboard.yaml $(WORKERS) --seed $(SEED) \
	    --name leaderboard-seed$(SEED) --leaderboard benchmarks/leaderboard.md

leaderboard-reseed: $(STAMP)  ## the leaderboard again at master seed 1, compared class by class: benchmarks/leaderboard-reseed.md
	$(BIN)/python -m nbutils sweep parameters/sweeps/leaderboard.yaml $(WORKERS) --seed 1 \
	    --name leaderboard-seed1 --leaderboard reports/leaderboard-seed1/leaderboard.md
	$(BIN)/python benchmarks/reseed.py benchmarks/leaderboard.csv reports/leaderboard-seed1/leaderboard.csv \
	    --output benchmarks/leaderboard-reseed.md

design-study: $(STAMP)  ## the paired gain's interval width per CPU-second as N and replicates vary: benchmarks/design-study.md
	$(BIN)/python -m nbutils sweep parameters/sweeps/design-study.yaml --workers 2
	$(BIN)/python benchmarks/design_study.py reports/design-study --output benchmarks/design-study.md

# sequence: K deletion requests in a row, ROWS rows each, each on the model the last one exported
K ?= 5
ROWS ?= 40

sequence: $(STAMP)  ## K requests in a row on the default table, each on the last export: benchmarks/sequence.md
	$(BIN)/python benchmarks/sequence.py --k $(K) --rows $(ROWS)

clean:
	rm -rf $(VENV) reports/*/
