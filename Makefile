# roadsight: one-command set-up, tests, lint and demo.
#   make setup   system packages + .venv + locked Python packages (idempotent, fast when unchanged)
#   make test    setup + Kafka jars + pytest (the pytest session starts a real Kafka broker)
#   make lint    ruff + mypy
#   make demo    setup + Kafka jars, then `roadsight demo`
#   make kafka   fetch the Kafka broker jars into .cache/kafka (or $ROADSIGHT_CACHE/kafka)
#   make lock    regenerate requirements*.lock from pyproject.toml
#   make clean   remove caches and build outputs (keeps .venv and the Kafka jars: see distclean)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup test lint demo kafka lock clean distclean

help:
	@sed -n '2,9s/^# //p' Makefile

setup:
	@VENV=$(VENV) bash scripts/setup.sh

kafka: setup
	@$(PY) tests/kafka_broker.py fetch

test: setup kafka
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

demo: setup kafka
	$(VENV)/bin/roadsight demo

lock:
	bash scripts/lock.sh

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
