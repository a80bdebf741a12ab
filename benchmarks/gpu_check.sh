#!/usr/bin/env bash
# The GPU path, checked on a machine with CUDA: every notebook at profile `smoke` on the GPU, the
# CUDA-only tests (packed = separate runs, exact resume), then the training and metric benchmarks.
# Writes OUT/gpu_check_summary.md (the machine, each step's status and seconds, each notebook's status and
# seconds, the benchmarks' printed figures) beside OUT/notebooks/ (the runner's output) and OUT/logs/ (each
# step's stdout and stderr). The summary is rewritten after every step, so a run cut short still leaves one.
#
#   make gpu-check                               # the kit's .venv; OUT=reports/gpu_check
#   bash benchmarks/gpu_check.sh [OUT] [MINUTES] # OUT: default $GPU_CHECK_OUT, else reports/gpu_check
#   NOTEBOOKS="01_vae 12_latent_geometry" bash benchmarks/gpu_check.sh   # only these notebooks
#   STEPS="bench_train bench_metrics" bash benchmarks/gpu_check.sh        # only these steps, in this order
#   SUMMARY=PATH bash benchmarks/gpu_check.sh OUT                         # the summary there instead
#
# MINUTES (default: none) limits the whole check's wall clock: the step running then is stopped (SIGINT) and
# marked so, the steps after it are marked "not started". On a machine lent by the minute, split the steps over
# calls that each end in time. On the remote GPU machine (python3 3.12 with torch, without the kit's other
# packages): here, from the project root, `bash ../shared/gpu/fetch_wheels.sh` (wheels into .whl/, which git
# ignores: carry it along with the copy); there, from the root:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD JUPYTER_PATH=/tmp/site/share/jupyter   # nbconvert's templates
#   SUMMARY=$OUT/gpu_check_summary.md PYTHON=python3 bash benchmarks/gpu_check.sh /tmp/gpu_check 8
#
# (a remote machine sends back at most 8 files: the summary holds the tables, the benchmarks' output and the
# end of every failed step's log; the executed notebooks and full logs stay in /tmp/gpu_check.)
#
# A failing step is recorded and the next one runs; exit 1 if any step failed, did not finish or did not start,
# 2 without CUDA or with a bad argument.
set -uo pipefail

ALL_STEPS=(data notebooks cuda_tests bench_train bench_train_packed bench_train_packed_bf16 bench_train_packed_eager
           bench_metrics)
OUT=$(realpath -m "${1:-${GPU_CHECK_OUT:-reports/gpu_check}}")
MINUTES=${2:-}
STEPS=${STEPS:-${ALL_STEPS[*]}}
SUMMARY=$(realpath -m "${SUMMARY:-$OUT/gpu_check_summary.md}")
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-.venv/bin/python}

for step in $STEPS; do
  if [[ " ${ALL_STEPS[*]} " != *" $step "* ]]; then
    echo "gpu_check: refused: STEPS names $step; choose from: ${ALL_STEPS[*]}" >&2
    exit 2
  fi
done
limit_s=
if [ -n "$MINUTES" ]; then
  limit_s=$(awk -v m="$MINUTES" 'BEGIN { if (m ~ /^[0-9]*\.?[0-9]+$/ && m * 60 >= 1) printf "%d", m * 60 }')
  if [ -z "$limit_s" ]; then
    echo "gpu_check: refused: MINUTES=$MINUTES is not allowed; give a number of minutes, at least 1/60" >&2
    exit 2
  fi
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  echo "gpu_check: refused: CUDA is not available to $PYTHON (no NVIDIA GPU, or torch is missing or a CPU build);" \
       "run it on a machine with a CUDA GPU, with PYTHON set to an interpreter whose torch sees it." >&2
  exit 2
fi

mkdir -p "$OUT/logs" "$(dirname "$SUMMARY")"
failed=0
rows=()

# step_command NAME: the command line of step NAME, into the array `command`.
step_command() {
  case $1 in
    data) command=("$PYTHON" -m course_lib data) ;;
    # shellcheck disable=SC2206  # NOTEBOOKS is a list of stems
    notebooks) command=("$PYTHON" -m course_lib notebooks --profile smoke --device cuda --out "$OUT/notebooks"
                        ${NOTEBOOKS:+--only $NOTEBOOKS}) ;;
    # the tests that only run on CUDA: packed = separate runs, a killed run resumes exactly (needs pytest there)
    cuda_tests) command=("$PYTHON" -m pytest -q -p no:cacheprovider -k cuda tests/test_packed.py
                         tests/test_training.py tests/test_graphed.py tests/test_tc_analysis.py
                         tests/test_precision.py) ;;
    bench_train) command=("$PYTHON" benchmarks/bench_train.py --device cuda) ;;
    bench_train_packed) command=("$PYTHON" benchmarks/bench_train.py --device cuda --packed) ;;
    bench_train_packed_bf16) command=("$PYTHON" benchmarks/bench_train.py --device cuda --packed
                                      --precision bfloat16) ;;
    bench_train_packed_eager) command=("$PYTHON" benchmarks/bench_train.py --device cuda --packed --cuda-graph off
                                       --k 1 32 128) ;;
    bench_metrics) command=("$PYTHON" benchmarks/bench_metrics.py --device cuda) ;;
  esac
}

# run_step NAME: stdout to logs/NAME.out, stderr to logs/NAME.err, within the time left; one row of the table.
run_step() {
  local name=$1 start=$SECONDS status=ok seconds=0  # timeout 0: no limit
  step_command "$name"
  if [ -n "$limit_s" ]; then
    seconds=$((end - SECONDS))
    if [ "$seconds" -le 0 ]; then
      rows+=("| $name | not started (time up) | | \`${command[*]}\` |")
      failed=1
      return
    fi
  fi
  echo "gpu_check: $name: ${command[*]}" >&2
  timeout -s INT -k 30 "$seconds" "${command[@]}" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err"
  local code=$?
  if [ "$code" -ne 0 ]; then
    failed=1
    status="failed (exit $code)"
    if [ -n "$limit_s" ] && [ "$SECONDS" -ge "$end" ]; then status="stopped at the time limit"; fi
  fi
  rows+=("| $name | $status | $((SECONDS - start)) | \`${command[*]}\` |")
}

machine="- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | paste -sd';')
$("$PYTHON" -c "import platform, torch
print(f'- torch {torch.__version__} (CUDA {torch.version.cuda}), Python {platform.python_version()}, '
      f'{platform.platform()}')" 2>&1)
- steps: ${STEPS}; time limit: ${MINUTES:-none} minutes"

write_summary() {
  {
    echo "# GPU check, $(date -Iseconds)"
    echo
    echo "$machine"
    echo
    echo "| step | status | seconds | command |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    if [ -f "$OUT/notebooks/index.json" ]; then
      echo
      echo "## Notebooks (profile smoke, device cuda)"
      echo
      "$PYTHON" - "$OUT/notebooks/index.json" <<'EOF'
import json
import sys
from pathlib import Path

print("| notebook | status | seconds | error |\n|---|---|---|---|")
for nb in json.loads(Path(sys.argv[1]).read_text())["notebooks"]:
    cell = f" (cell [{nb['failing_cell']}])" if nb["failing_cell"] is not None else ""
    error = (nb["error"] or "").replace("|", "\\|").replace("\n", " ")[:300]
    print(f"| {nb['name']} | {nb['status']} | {nb['duration_s']:.1f} | {error}{cell} |")
EOF
    fi
    for row in "${rows[@]}"; do
      step=$(echo "$row" | cut -d'|' -f2 | tr -d ' ')
      if [[ $step == cuda_tests || $step == bench_* ]] && [ -s "$OUT/logs/$step.out" ]; then
        echo
        echo "## $step"
        echo
        echo '```'
        cat "$OUT/logs/$step.out"
        echo '```'
      fi
      if [[ $row != *"| ok |"* && $row != *"not started"* ]]; then
        echo
        echo "## $step did not pass: the end of logs/$step.err"
        echo
        echo '```'
        tail -n 20 "$OUT/logs/$step.err"
        echo '```'
      fi
    done
  } >"$SUMMARY.part" 2>&1
  mv -f "$SUMMARY.part" "$SUMMARY"
}

end=${limit_s:-0}  # in $SECONDS, which counts from the script's start
for step in $STEPS; do
  run_step "$step"
  write_summary
done
echo "gpu_check: summary in $SUMMARY" >&2
exit "$failed"
