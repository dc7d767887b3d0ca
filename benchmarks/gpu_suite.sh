#!/usr/bin/env bash
# The GPU figures of benchmarks/README.md in one run: throughput, IMDb (lecture 05) and quality.
#
#   OUT=results/ bash benchmarks/gpu_suite.sh            # on a GPU machine, about 8 minutes
#   SMOKE=1 OUT=/tmp/smoke bash benchmarks/gpu_suite.sh   # tiny settings on the CPU: checks the script runs
#
# Each step has its own time limit and log under $OUT, so a slow or failing step still leaves the
# others' figures. Data come from COURSE_DATA_MIRROR (or the course's usual download).
set -u
OUT=${OUT:?set OUT to a folder for the logs}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
QUALITY_SECONDS=${QUALITY_SECONDS:-60}

step() {  # step NAME LIMIT_S COMMAND...: run one figure, log it, never stop the suite
    local name=$1 limit=$2; shift 2
    echo "=== $name ($(date -u +%H:%M:%S), limit ${limit} s): $*" | tee -a "$OUT/suite.log"
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$OUT/suite.log"
}

if [ "${SMOKE:-0}" = 1 ]; then
    DEV=cpu
    CHAR=(--steps 2 --warmup 1 --hidden-size 32 --batch-size 4 --seq-len 16)
    IMDB=(--n-train 300 --n-val 100 --n-test 100 --epochs 1 --cnn-epochs 1 --seeds 0 1 --embed-dim 16 --hidden-size 16 --num-filters 8)
    QUAL=(--steps 5 --hidden-size 32 --num-layers 1 --batch-size 4 --seq-len 32 --max-eval-batches 2)
else
    DEV=cuda
    CHAR=()
    IMDB=(--seeds 0 1 2)
    QUAL=(--seconds "$QUALITY_SECONDS" --hidden-size 512 --num-layers 2)
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi";
  $PY -c "import torch, platform; print('torch', torch.__version__, '| python', platform.python_version(), '| cuda', torch.cuda.is_available(), '| cpus', __import__('os').cpu_count())"; } \
    | tee "$OUT/machine.log"

# 1. helpers.train vs the per-time-step loop (README section 1), GRU and LSTM
step char_lm_gru 120 $PY -m benchmarks.char_lm --device $DEV --cell gru "${CHAR[@]}"
step char_lm_lstm 120 $PY -m benchmarks.char_lm --device $DEV --cell lstm "${CHAR[@]}"
# 2. lecture 05's full settings, three seeds, the official test split scored (issue 17's target: mean >= 0.90)
step imdb 300 $PY -m benchmarks.imdb_baselines --models cnn lstm --test --device $DEV "${IMDB[@]}"
# 3. vanilla RNN vs GRU at equal wall-clock budget (README section 2)
step quality 330 $PY -m benchmarks.quality --device $DEV "${QUAL[@]}"
echo "suite done at $(date -u +%H:%M:%S)" | tee -a "$OUT/suite.log"
