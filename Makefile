# roofline: two commands do all the set-up on a fresh machine (Python 3.10+ with pip).
#   make demo   creates .venv, installs roofline, profiles a bundled model on an RTX 3090
#   make test   creates .venv, installs roofline with test extras, runs ruff and pytest
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing roofline and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install -e '.[test]' > $(VENV)/install.log 2>&1 \
		|| (tail -n 30 $(VENV)/install.log; exit 1)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/roofline profile examples/resnet50.yaml --gpu 3090 --html reports/demo.html

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/profiling_speed.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
