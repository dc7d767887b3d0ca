#!/usr/bin/env bash
# The GPU figures of benchmarks/README.md in one run: throughput, IMDb (lecture 05), quality and lecture 09.
#
#   OUT=results/ bash benchmarks/gpu_suite.sh            # on a GPU machine, about 12 minutes
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
    SCAN9=(--lengths 16 64 --sizes 1x4 --size-length 64)
    LM9=(--base-steps 2 --batch-size 2 --seq-len 16 --eval-batches 2 --rate-rounds 1 --models GRU minGRU)
    COPY9=(--steps 2 --copy-len 16 --n-memorize 2 --d-model 8 --d-state 4)
    INF9=(--contexts 16 64 --tokens 2)
else
    DEV=cuda
    CHAR=()
    IMDB=(--seeds 0 1 2)
    QUAL=(--seconds "$QUALITY_SECONDS" --hidden-size 512 --num-layers 2)
    SCAN9=(--lengths 64 256 1024 4096 16384 --sizes 4x32 32x128 64x512 --size-length 4096)
    LM9=(--base-steps 3000 --seeds 0)
    COPY9=(--steps 1000 --seeds 0 1 2)
    INF9=(--contexts 128 512 2048 8192)
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
# 4. lecture 09: the scans against the loop on the GPU, minGRU/minLSTM vs GRU and the Transformer at equal
#    wall clock, selective copying, and memory and time per generated token (README, lecture 09)
step linear_rnn_scan 120 $PY -m benchmarks.linear_rnn scan --device $DEV "${SCAN9[@]}"
step linear_rnn_lm 360 $PY -m benchmarks.linear_rnn lm --device $DEV "${LM9[@]}"
step linear_rnn_copy 240 $PY -m benchmarks.linear_rnn copy --device $DEV "${COPY9[@]}"
step linear_rnn_inference 120 $PY -m benchmarks.linear_rnn inference --device $DEV "${INF9[@]}"
echo "suite done at $(date -u +%H:%M:%S)" | tee -a "$OUT/suite.log"
