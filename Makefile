# dlpipe developer and user entry points. `make run` and `make test` each set everything up
# (Python 3.10 venv from requirements.lock) before doing their job.
SHELL := /bin/bash
VENV ?= .venv
# Python 3.10 (TFX 1.16's newest supported Python here): pyenv's interpreter named by
# .python-version, else python3.10 on PATH.
PYTHON310 ?= $(shell (pyenv which python 2>/dev/null | grep -E '3\.10' ) || command -v python3.10 || ls $$HOME/.pyenv/versions/3.10*/bin/python 2>/dev/null | head -n1)
STAMP := $(VENV)/.dlpipe-installed
PYTEST_ARGS ?=

.PHONY: setup run test lint lock lock-airflow bench clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found (install it with 'pyenv install 3.10.13' or set PYTHON310=...)"; exit 1; }
	@$(PYTHON310) -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' \
		|| { echo "error: $(PYTHON310) is not Python 3.10"; exit 1; }
	$(PYTHON310) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	# One resolution, against the lock: a second unconstrained install would break TFX.
	# Bytecode is compiled at install time: with PYTHONDONTWRITEBYTECODE set, every run would
	# otherwise recompile ~8k modules (13 s).
	$(VENV)/bin/uv pip install --python $(VENV)/bin/python --compile-bytecode -r requirements.lock
	$(VENV)/bin/uv pip install --python $(VENV)/bin/python --no-deps -e .
	$(VENV)/bin/uv pip check --python $(VENV)/bin/python
	touch $(STAMP)

run: setup
	$(VENV)/bin/dlpipe run

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/python bench/pipeline.py

# Needs only uv (not an installed venv): a dependency added to pyproject.toml but not yet in
# the lock would fail setup's `uv pip check`.
lock:
	@test -x $(VENV)/bin/uv || { $(PYTHON310) -m venv $(VENV) && \
		$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9; }
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
		--extra dev pyproject.toml -o requirements.lock

# The Airflow venv's lock (.ci/run builds .venv-airflow from it for the DAG test): the main
# lock's pins as constraints, except the ones Airflow 2.10 cannot take (requirements-airflow.in).
lock-airflow:
	@test -x $(VENV)/bin/uv || { echo "error: run make lock or make setup first"; exit 1; }
	grep -vE '^(werkzeug|rich|opentelemetry-[a-z-]+)==' requirements.lock > .airflow-constraints.txt
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
		requirements-airflow.in pyproject.toml -c .airflow-constraints.txt -o requirements-airflow.lock
	rm -f .airflow-constraints.txt

clean:
	rm -rf $(VENV) runs
