# Two commands for a new user:  make run  (the app)   make test  (every test)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
PORT ?= 8501
DEFAULT_RUN := checkpoints/mnist-default/model.safetensors

.PHONY: run test venv bench default-run clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

# The committed default run; rebuilt by the project's own CLI only if missing (the command
# in checkpoints/mnist-default/card.md; about 2 minutes on two CPU cores, no network).
$(DEFAULT_RUN): | $(STAMP)
	$(PY) -m vae.train --dataset mnist10k --arch conv --latent-dim 16 --hidden 128 --kl-warmup 2 \
		--epochs 40 --out checkpoints/mnist-default
	$(PY) -m vae.precompute checkpoints/mnist-default

default-run: $(DEFAULT_RUN)

run: $(STAMP) $(DEFAULT_RUN)
	@echo "VAE Latent Explorer: open http://127.0.0.1:$(PORT) in a browser (Ctrl+C stops it)"
	$(PY) scripts/serve.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: $(STAMP) $(DEFAULT_RUN)
	@bash tests/ensure_chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) $(DEFAULT_RUN)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
