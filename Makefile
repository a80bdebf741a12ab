# The README's two commands are `make report` and `make test`; both create .venv when it is missing.
# python3.11 where it exists (torch's CPU wheel for it lies on the team's machines), else the newest python3.1x.
PYTHON  ?= $(firstword $(foreach version,3.11 3.14 3.13 3.12,$(shell command -v python$(version) 2>/dev/null)))
VENV    ?= .venv
PY      := $(VENV)/bin/python
# A CPU build of torch by default. For a CUDA build: make TORCH="torch==2.13.0 --index-url <pytorch wheel index>"
TORCH   ?= torch==2.13.0
PROFILE ?= lecture
DEVICE  ?= auto
SEED    ?= 0
STAMP   := $(VENV)/.installed

.PHONY: venv data report test exercises lab sync bench gpu-check grow-zoo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || test -n "$(PYTHON)" || { echo "make: no python3.11-3.14 on the PATH; run make PYTHON=/path/to/python3"; exit 1; }
	@test -x $(PY) || echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name course-kit --display-name "Python (course kit)"
	touch $(STAMP)

data: $(STAMP)
	$(PY) -m course_lib data

report: data
	$(PY) -m course_lib notebooks --profile $(PROFILE) --device $(DEVICE) --seed $(SEED) --out reports

test: data
	COURSE_PROFILE=smoke $(PY) -m pytest

exercises: $(STAMP)
	$(PY) -m course_lib exercises --out build/student

# ROOT=build/student: the student build that `make exercises` writes
lab: $(STAMP)
	$(PY) -m course_lib lab $(if $(ROOT),--root $(ROOT))

sync: $(STAMP)
	$(PY) -m course_lib sync

bench: data
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_train.py --device $(DEVICE)
	$(PY) benchmarks/bench_metrics.py --device $(DEVICE)
	$(PY) benchmarks/bench_geomancer.py
	$(PY) benchmarks/bench_geometry.py --device $(DEVICE)
	$(PY) benchmarks/bench_topology.py

# On a machine with CUDA: every notebook (smoke) and the benchmarks on the GPU; reports/gpu_check/
# (MINUTES=N: within N minutes of wall clock)
gpu-check: $(STAMP)
	PYTHON=$(PY) bash benchmarks/gpu_check.sh "$${GPU_CHECK_OUT:-reports/gpu_check}" $(MINUTES)

# On a machine with CUDA: retrain the notebooks' zoo models for STEPS steps and ship them (README: the zoo's age);
# TIME_LIMIT=MINUTES stops every run with a checkpoint when the time is up (the same command resumes them)
grow-zoo: data
	@test -n "$(STEPS)" || { echo "make grow-zoo: set STEPS, e.g. make grow-zoo STEPS=100000 DEVICE=cuda"; exit 2; }
	$(PY) -m course_lib zoo --grow $(STEPS) --seed $(SEED) --device $(DEVICE) $(if $(WORKERS),--workers $(WORKERS)) \
	  $(if $(TIME_LIMIT),--time-limit $(TIME_LIMIT))

# Students work in the student build (build/student), so clean leaves build/ alone: delete it yourself to start over.
clean:
	rm -rf reports .pytest_cache
