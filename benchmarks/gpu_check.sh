#!/usr/bin/env bash
# The GPU path, checked on a machine with CUDA: every notebook at profile `smoke` on the GPU, the
# CUDA-only tests (packed = separate runs, exact resume), then the training and metric benchmarks.
# Writes OUT/gpu_check_summary.md (the machine, each step's
# status and seconds, each notebook's status and seconds, the benchmarks' printed figures), beside
# OUT/notebooks/ (the runner's output) and OUT/logs/ (each step's stdout and stderr).
#
#   make gpu-check                               # the kit's .venv; OUT=reports/gpu_check
#   bash benchmarks/gpu_check.sh [OUT]           # OUT: default $GPU_CHECK_OUT, else reports/gpu_check
#   NOTEBOOKS="01_vae 12_latent_geometry" bash benchmarks/gpu_check.sh   # only these notebooks
#
# On the remote GPU machine (python3 3.12 with torch, without the kit's other packages): here, from
# the project root, `bash ../shared/gpu/fetch_wheels.sh` (wheels into .whl/, which git ignores: carry it
# along with the copy); there, from the root:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD JUPYTER_PATH=/tmp/site/share/jupyter   # nbconvert's templates
#   PYTHON=python3 bash benchmarks/gpu_check.sh /tmp/gpu_check; cp /tmp/gpu_check/gpu_check_summary.md "$OUT"
#
# (a remote machine sends back at most 8 files: the summary holds the tables, the benchmarks' output and the
# end of every failed step's log; the executed notebooks and full logs stay in /tmp/gpu_check.)
#
# A failing step is recorded and the next one runs; exit 1 if any step failed, 2 without CUDA.
set -uo pipefail

OUT=$(realpath -m "${1:-${GPU_CHECK_OUT:-reports/gpu_check}}")
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-.venv/bin/python}
SUMMARY=$OUT/gpu_check_summary.md

if ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  echo "gpu_check: refused: CUDA is not available to $PYTHON (no NVIDIA GPU, or torch is missing or a CPU build);" \
       "run it on a machine with a CUDA GPU, with PYTHON set to an interpreter whose torch sees it." >&2
  exit 2
fi

mkdir -p "$OUT/logs"
failed=0
steps=()

# run_step NAME COMMAND...: stdout to logs/NAME.out, stderr to logs/NAME.err; one row of the steps table.
run_step() {
  local name=$1 start=$SECONDS status=ok
  shift
  echo "gpu_check: $name: $*" >&2
  "$@" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err" || { status="failed (exit $?)"; failed=1; }
  steps+=("| $name | $status | $((SECONDS - start)) | \`$*\` |")
}

run_step data "$PYTHON" -m course_lib data
# shellcheck disable=SC2086  # NOTEBOOKS is a list of stems
run_step notebooks "$PYTHON" -m course_lib notebooks --profile smoke --device cuda --out "$OUT/notebooks" \
  ${NOTEBOOKS:+--only $NOTEBOOKS}
# the tests that only run on CUDA: packed = separate runs, a killed run resumes exactly (needs pytest there)
run_step cuda_tests "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda tests/test_packed.py tests/test_training.py tests/test_graphed.py \
  tests/test_tc_analysis.py tests/test_precision.py
run_step bench_train "$PYTHON" benchmarks/bench_train.py --device cuda
run_step bench_train_packed "$PYTHON" benchmarks/bench_train.py --device cuda --packed
run_step bench_train_packed_bf16 "$PYTHON" benchmarks/bench_train.py --device cuda --packed --precision bfloat16
run_step bench_train_packed_eager "$PYTHON" benchmarks/bench_train.py --device cuda --packed --cuda-graph off --k 1 32 128
run_step bench_metrics "$PYTHON" benchmarks/bench_metrics.py --device cuda

{
  echo "# GPU check, $(date -Iseconds)"
  echo
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | paste -sd';')"
  "$PYTHON" -c "import platform, torch
print(f'- torch {torch.__version__} (CUDA {torch.version.cuda}), Python {platform.python_version()}, {platform.platform()}')"
  echo
  echo "| step | status | seconds | command |"
  echo "|---|---|---|---|"
  printf '%s\n' "${steps[@]}"
  echo
  echo "## Notebooks (profile smoke, device cuda)"
  echo
  "$PYTHON" - "$OUT/notebooks/index.json" <<'EOF'
import json
import sys
from pathlib import Path

index = Path(sys.argv[1])
if not index.is_file():
    sys.exit(f"no {index}: see logs/notebooks.err")
print("| notebook | status | seconds | error |\n|---|---|---|---|")
for nb in json.loads(index.read_text())["notebooks"]:
    cell = f" (cell [{nb['failing_cell']}])" if nb["failing_cell"] is not None else ""
    error = (nb["error"] or "").replace("|", "\\|").replace("\n", " ")[:300]
    print(f"| {nb['name']} | {nb['status']} | {nb['duration_s']:.1f} | {error}{cell} |")
EOF
  for step in cuda_tests bench_train bench_train_packed bench_train_packed_bf16 bench_metrics; do
    [[ -f $OUT/logs/$step.out ]] || continue
    echo
    echo "## $step"
    echo
    echo '```'
    cat "$OUT/logs/$step.out"
    echo '```'
  done
  for log in "$OUT"/logs/*.err; do
    step=$(basename "$log" .err)
    if printf '%s\n' "${steps[@]}" | grep -q "^| $step | failed"; then
      echo
      echo "## $step failed: the end of logs/$step.err"
      echo
      echo '```'
      tail -n 20 "$log"
      echo '```'
    fi
  done
} >"$SUMMARY" 2>&1

echo "gpu_check: summary in $SUMMARY" >&2
exit "$failed"
