#!/usr/bin/env bash
# Issue 17 on a lent GPU: every notebook at profile `full` on the GPU, one at a time, within MINUTES (default 9)
# of wall clock, timed. The models are the pretrained zoo's (at `full` the notebooks load it once it is 100,000
# steps old; what it lacks trains here at its age, packed); the analyses run at the papers' sizes.
#
#   bash benchmarks/gpu_full.sh OUT [MINUTES]
#   NOTEBOOKS="05_beta_tcvae 08_metrics" bash benchmarks/gpu_full.sh OUT   # only these, in this order
#
# Default order: the notebooks that only load models first, then those that train some (02, 06, 08, 09, 11), then
# the report. Not by default: 13 and 14, whose `full` designs are sweeps of 180 models of 300,000 steps each
# (hours of a GPU: run `python -m course_lib study --profile full` on a machine lent for that).
# A notebook still running when the minutes are up is stopped and marked so; the rest are listed as not started.
# On the remote GPU machine install the wheels as benchmarks/gpu_check.sh's header says, then
# `SUMMARY=$OUT/gpu_full_summary.md PYTHON=python3 bash benchmarks/gpu_full.sh /tmp/gpu_full`. Writes
# OUT/gpu_full_summary.md, or SUMMARY (the machine, each notebook's status and seconds, the end of each failure's
# log; rewritten after every notebook, so a run cut short still leaves one) beside OUT/notebooks/NAME/ (the
# runner's output, HTML included).
# Exit 0 when every notebook ran, 1 when one failed or did not finish, 2 without CUDA or with a bad argument.
set -uo pipefail

OUT=$(realpath -m "${1:?usage: bash benchmarks/gpu_full.sh OUT [MINUTES]}")
MINUTES=${2:-9}
SUMMARY=$(realpath -m "${SUMMARY:-$OUT/gpu_full_summary.md}")
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-.venv/bin/python}
ORDER="00_disentanglement 01_vae 03_annealed_vae 04_factor_vae 05_beta_tcvae 07_impossibility 10_topology
12_latent_geometry 02_beta_vae 06_dip_vae 08_metrics 09_geomancer 11_topdis report"
NOTEBOOKS=${NOTEBOOKS:-$ORDER}

limit_s=$(awk -v m="$MINUTES" 'BEGIN { if (m ~ /^[0-9]*\.?[0-9]+$/ && m * 60 >= 1) printf "%d", m * 60 }')
if [ -z "$limit_s" ]; then
  echo "gpu_full: refused: MINUTES=$MINUTES is not allowed; give a number of minutes, at least 1/60" >&2
  exit 2
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  echo "gpu_full: refused: CUDA is not available to $PYTHON; run it on a machine with a CUDA GPU" >&2
  exit 2
fi
mkdir -p "$OUT/notebooks" "$(dirname "$SUMMARY")"
failed=0
rows=()
machine="- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | paste -sd';')
$("$PYTHON" -c "import platform, torch
print(f'- torch {torch.__version__} (CUDA {torch.version.cuda}), Python {platform.python_version()}')" 2>&1)
- time limit: $MINUTES minutes, wall clock, notebooks run one at a time (each its own kernel)"

write_summary() {
  {
    echo "# Notebooks at profile full on the GPU, $(date -Iseconds)"
    echo
    echo "$machine"
    echo
    echo "| notebook | status | seconds |"
    echo "|---|---|---|"
    printf '%s\n' "${rows[@]}"
    for row in "${rows[@]}"; do
      name=$(echo "$row" | cut -d'|' -f2 | tr -d ' ')
      if [[ $row != *"| ok |"* && -f $OUT/notebooks/$name.log ]]; then
        echo
        echo "## $name: the end of its log"
        echo
        echo '```'
        tail -n 15 "$OUT/notebooks/$name.log"
        echo '```'
      fi
    done
  } >"$SUMMARY.part" 2>&1
  mv -f "$SUMMARY.part" "$SUMMARY"
}

"$PYTHON" -m course_lib data >/dev/null || exit 1
for name in $NOTEBOOKS; do
  left=$((limit_s - SECONDS))  # SECONDS counts from the script's start
  if [ "$left" -le 0 ]; then
    rows+=("| $name | not started (time up) | |")
    failed=1
    write_summary
    continue
  fi
  start=$SECONDS
  echo "gpu_full: $name ($left s left)" >&2
  timeout -s INT -k 30 "$left" "$PYTHON" -m course_lib notebooks --profile full --device cuda --only "$name" \
    --out "$OUT/notebooks/$name" >"$OUT/notebooks/$name.log" 2>&1
  code=$?
  status=ok
  if [ "$code" -ne 0 ]; then
    failed=1
    status="failed (exit $code)"
    if [ "$SECONDS" -ge "$limit_s" ]; then status="stopped at the time limit"; fi
  fi
  rows+=("| $name | $status | $((SECONDS - start)) |")
  write_summary
done
echo "gpu_full: summary in $SUMMARY" >&2
exit "$failed"
