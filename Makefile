# Two entry points for people (see README): `make run` and `make test`.
# `make setup` is the shared, idempotent step: it rebuilds .venv only when pyproject.toml changed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.r2etl-setup-stamp
SPIKINGJELLY := spikingjelly==2.0.0

.PHONY: setup run test bench experiment clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@# --no-deps: spikingjelly declares torchvision/torchaudio, which would replace torch.
	$(BIN)/python -m pip install -q --no-deps $(SPIKINGJELLY)
	$(BIN)/python -c "import torch, spikingjelly.activation_based, dv_processing, PySide6, pyqtgraph; print('r2etl setup ok: torch', torch.__version__)"
	@touch $(STAMP)

run: setup
	$(BIN)/r2etl-viewer $(ARGS)

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)
	$(BIN)/lint-imports
	$(BIN)/ruff check --quiet .

bench: setup
	$(BIN)/r2etl bench

experiment: setup
	$(BIN)/python scripts/results_report.py --run

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
