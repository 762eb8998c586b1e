# Two commands (see README):  make course   and   make test
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export DPT_CACHE ?= $(CURDIR)/.cache/dpt

.PHONY: setup browser-deps course lab test test-fast benchmark tune tune-image protocols criteria clean

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch torchvision
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,ray,browser]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

# The main job: the notebook course on the offline miniature (outputs and figures regenerated).
course: $(STAMP)
	$(BIN)/python -m dpt info
	$(BIN)/python -m dpt course

# The course in JupyterLab, on the project's own environment: the notebooks ask for the kernel "python3", which is
# this .venv's own Python when JupyterLab runs from it (no kernel is installed user-wide, so other clones keep theirs).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

# Chromium for tests/test_browser.py (JupyterLab in a real browser), from Debian's packages where we are
# root; anywhere else that one test is skipped with its reason. Playwright comes with setup (the `browser` extra).
CHROMIUM ?= $(or $(DPT_CHROMIUM),/usr/bin/chromium)
browser-deps:
	@if [ -x $(CHROMIUM) ]; then echo "browser test: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		(apt-get install -y -q chromium > /dev/null 2>&1 || (apt-get update -q > /dev/null && apt-get install -y -q chromium > /dev/null)) \
		&& echo "installed chromium for the browser test" || echo "could not install chromium: the browser test will be skipped"; \
	else echo "no Chromium: the browser test will be skipped (Debian: sudo apt-get install chromium; or set DPT_CHROMIUM)"; fi

# The whole test suite: unit tests, the browser test and every notebook under nbval.
test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -q --nbval-lax --nbval-current-env tests notebooks

# The quick loop while developing (under 2 minutes on 2 cores): the unit tests without those marked slow, i.e.
# without the browser, JupyterLab, Ray, the speed benchmarks, ViT-B-16, kill/resume, the fp16/bf16 training runs and
# nbval (tests/conftest.py says which). `make test` runs everything, and is what CI runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

# The committed results, in the order they depend on each other (each command reuses every stored row, so a
# rerun only trains what is missing; benchmarks/reuse_check.py checks that). Rows go to results/<profile>/.
# 1. every method with its reference settings, on the three datasets and the control split
benchmark: $(STAMP)
	$(BIN)/python -m dpt base2novel --methods zeroshot coop kgcoop dpt prograd cocoop ivlp maple promptsrc --datasets miniature miniature-control --seeds 1 2 3

# 2. dpt's pre-registered search (val; the plan was committed before its rows), then the same six-value val search
# for every method's knob, each method once on test with its choice (the held-out dataset too), the MI questions
tune: $(STAMP)
	$(BIN)/python -m dpt search --plan results/miniature-v1/dpt_search_plan.json
	$(BIN)/python -m dpt tune --methods dpt kgcoop coop_ensemble coop prograd --datasets miniature --seeds 1 2 3 --split val --test-out results/miniature-v1/base2novel.json --test-datasets miniature miniature-control miniature-heldout
	$(BIN)/python -m dpt base2novel --methods zeroshot --datasets miniature-heldout --seeds 1 2 3
	$(BIN)/python -m dpt ablate --variants dpt no_mi mi_alignment critic_separable no_ensemble --baselines kgcoop --split test --datasets miniature --seeds 1 2 3 --out results/miniature-v1/mi_questions.json
	$(BIN)/python -m dpt base2novel --methods dpt_hand_ensemble --datasets miniature --seeds 1 2 3 --out results/miniature-v1/mi_questions.json

# 2b. the same search for the methods that prompt the image encoder (their epochs / loss weights), each once on test
# with its choice (docs/results.md, "A fair comparison"); about 105 minutes of training on 2 CPU cores
tune-image: $(STAMP)
	$(BIN)/python -m dpt tune --methods ivlp maple promptsrc --datasets miniature --seeds 1 2 3 --split val --test-out results/miniature-v1/base2novel.json --test-datasets miniature miniature-control miniature-heldout

# 3. the ablation on val, transfer and domains, few-shot curves
protocols: $(STAMP)
	$(BIN)/python -m dpt ablate --datasets miniature --seeds 1 2 3 --split val
	$(BIN)/python -m dpt transfer --source mini_colours --targets mini_colours miniature-domains miniature --methods zeroshot coop kgcoop dpt --seeds 1 2 3
	$(BIN)/python -m dpt shots --shots 1 2 4 8 16 --methods zeroshot coop kgcoop dpt --datasets miniature --seeds 1

# 4. the miniatures against the fidelity criteria: the eight methods' ranking and the field's phenomena, per profile
# (PROFILE=miniature-v2 for one), then the fidelity table docs/miniature.md and notebooks 00 and 06 show
PROFILE ?= all
criteria: $(STAMP)
	$(BIN)/python benchmarks/miniature_criteria.py --profile $(PROFILE)

clean:
	rm -rf $(VENV) .cache
