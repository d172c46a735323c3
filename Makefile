# On a fresh machine each target creates .venv and installs into it first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKPOINT ?= weights/wavenet-default.safetensors

.PHONY: run test test-slow lint bench data train clean

$(STAMP): pyproject.toml setup.py model_core/csrc/wavenet_step.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: this version's CPU wheel is on disk; an unpinned torch pulls a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,service,train]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/wavenet generate --checkpoint $(CHECKPOINT) --duration 2 --out demo.wav

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks.sampler_speed --write BENCHMARKS.md

clean:
	rm -rf $(VENV) build *.egg-info model_core/*.so
