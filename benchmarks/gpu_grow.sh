#!/usr/bin/env bash
# Issue 17 on a lent GPU: grow the pretrained zoo to STEPS (default 100,000) within MINUTES (default 8) of
# training, then pack the grown zoo into OUT in parts that a remote machine can send back (15 MiB each).
#
#   bash benchmarks/gpu_grow.sh OUT [STEPS] [MINUTES]
#
# On the remote GPU machine (python3 with torch, without the kit's other packages): install the wheels as
# benchmarks/gpu_check.sh's header says, then `PYTHON=python3 bash benchmarks/gpu_grow.sh "$OUT"`.
# `zoo --grow --time-limit` stops every run with a checkpoint when the minutes are up and exports nothing;
# the checkpoints stay under runs/ (git-ignored), so the same command on the same (warm) machine resumes
# them. Once every run has finished the zoo is exported into data/pretrained and packed:
#
#   OUT/grow.log                       what zoo --grow printed (the grown models' metrics)
#   OUT/zoo-STEPS.tar.gz.part-aa, -ab  data/pretrained; here: cat zoo-*.part-* | tar xzf -   (from the root)
#
# Exit 0 when the zoo was grown and packed, 3 when the time ran out first (run it again), 1 on an error,
# 2 without CUDA.
set -uo pipefail

OUT=$(realpath -m "${1:?usage: bash benchmarks/gpu_grow.sh OUT [STEPS] [MINUTES]}")
STEPS=${2:-100000}
MINUTES=${3:-8}
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-.venv/bin/python}

if ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  echo "gpu_grow: refused: CUDA is not available to $PYTHON; run it on a machine with a CUDA GPU" >&2
  exit 2
fi
mkdir -p "$OUT"
"$PYTHON" -m course_lib data >/dev/null || exit 1
"$PYTHON" -m course_lib zoo --grow "$STEPS" --device cuda --time-limit "$MINUTES" 2>&1 | tee "$OUT/grow.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
age=$("$PYTHON" -c "from course_lib.kit.lecture_models import lecture_steps; print(lecture_steps('lecture'))")
if [ "$age" != "$STEPS" ]; then
  echo "gpu_grow: the time ran out before every run reached $STEPS steps (the zoo is $age steps old);" \
       "run the same command again on this machine to resume" >&2
  exit 3
fi
tar czf - data/pretrained | split -b 15M - "$OUT/zoo-$STEPS.tar.gz.part-"
ls -l "$OUT"
