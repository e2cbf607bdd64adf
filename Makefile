# The README's commands. Each one sets up the venv first (seconds once
# done): .venv/ with the upstream OpenMMLab stack, or .venv-onedl/ with the
# OneDL fork for MMVIG_STACK=onedl (make MMVIG_STACK=onedl test).
MMVIG_STACK ?= upstream
export MMVIG_STACK
VENV := $(if $(filter onedl,$(MMVIG_STACK)),.venv-onedl,.venv)
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast test-timm test-stack lint flops bench check-env gpu-wheels gpu-acceptance

setup:
	@bash tools/setup_env.sh

# Main job: AttentionViG-S classifier -> Mask R-CNN -> Semantic FPN on
# generated data, one table. SAG-ViT too:
#   make demo DEMO_ARGS="--backbones attentionvig sagvit"
demo: setup
	$(PY) tools/demo.py $(DEMO_ARGS)

# pytest in two worker processes (pytest-xdist), one torch thread each: a
# test file runs whole in one worker, its fixtures and order as when alone.
PARALLEL = OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile

# Every test, the slow end-to-end ones included, then timm's own model
# suite on mmvig's timm models (what CI runs).
test: setup
	$(PARALLEL) -m "slow or not slow" tests
	$(PY) tools/dev/timm_suite.py

# timm's tests/test_models.py (of the installed timm, from PyPI) on
# attentionvig_* and sagvit_*, TorchScript aside (about 1 min).
test-timm: setup
	$(PY) tools/dev/timm_suite.py

# flake8, isort and yapf with OpenMMLab's settings (setup.cfg) on every
# tracked Python file; CI runs it before the tests. To apply the formatting:
#   .venv/bin/python -m isort $$(git ls-files '*.py') && .venv/bin/yapf -i $$(git ls-files '*.py')
LINT_FILES = $(shell git ls-files '*.py')
lint: setup
	@echo "flake8, isort, yapf: $(words $(LINT_FILES)) files"
	@$(PY) -m flake8 $(LINT_FILES)
	@$(PY) -m isort --check-only --diff $(LINT_FILES)
	@$(PY) -m yapf --diff $(LINT_FILES)
	@echo "lint: clean"

# The part of the suite CI also runs on the OneDL stack
# (make MMVIG_STACK=onedl test-stack; docs/installation.md, "Two stacks"):
# the stack check, the three registries, every config building its model
# with a training iteration of each task, training and resuming, the
# safe-loading tests, and the demo's three stages on its smallest data.
STACK_TESTS = tests/test_stack.py tests/test_seams.py tests/test_registry.py \
	tests/test_configs \
	tests/test_engine/test_training.py tests/test_safe_load.py \
	tests/test_crafted_checkpoints.py tests/test_safe_load_fuzz.py
test-stack: setup
	$(PARALLEL) -m "not slow or demo" tests/test_tools/test_demo.py \
		$(STACK_TESTS)

# What a maintainer runs while editing (under 5 minutes on 2 cores): the
# tests marked neither slow nor long (setup.cfg), in two workers.
test-fast: setup
	$(PARALLEL) -m "not slow and not long" tests

flops: setup
	$(PY) tools/analysis/get_flops.py
	$(PY) tools/analysis/get_flops.py --table3

# Performance benchmarks (README "Performance"): each prints a table and one
# met / NOT MET line per target (graph_choices: a cost table, no target).
# On a GPU machine, also: .venv/bin/python benchmarks/gpu.py (about 4 min).
bench: setup
	for b in train_step throughput scaling aggregation_op import_time graph_choices triton_static; do \
		$(PY) benchmarks/$$b.py || exit 1; done

# What stands between this machine and training on its GPUs (one line per
# check, with its fix; docs/installation.md "GPU nodes").
check-env: setup
	$(PY) tools/misc/check_env.py

# The wheels a GPU machine without OpenMMLab packages or network needs for
# tools/dev/gpu_acceptance.sh (.gpu-wheels/, ignored).
gpu-wheels:
	bash tools/dev/gpu_wheels.sh

# The ten-minute GPU acceptance run; here (no GPU) its dry run.
gpu-acceptance: setup
	bash tools/dev/gpu_acceptance.sh $(if $(shell command -v nvidia-smi),,--dry-run)
