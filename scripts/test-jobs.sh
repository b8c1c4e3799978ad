#!/usr/bin/env bash
# Runs the test suite's jobs, WORKERS at a time, each in its own process: the commands given
# (scripts such as check-kernels.sh) and every XCTest class. A job's log is printed whole when
# it ends, never interleaved with another's; one summary closes the output.
#
#   scripts/test-jobs.sh [COMMAND …]        WORKERS: $TEST_WORKERS, else 2
#
# Why: on 2 cores most of the suite's time is spent on one core at a time: PoCL compiling a
# kernel on first use, oclgrind simulating one, libFuzzer. A second job keeps the other core
# busy (Benchmarks/NOTES-ci.md). Classes in separate processes still compile each kernel once:
# PoCL caches its builds on disk (POCL_CACHE_DIR), as cnn-gpu's program binaries do for other
# drivers (~/.cache/cnn-gpu/programs), both written atomically.
#
# Expects the test bundle built with scripts/test.sh's flags (swift build --build-tests). One
# seed for the whole run (CNNGPU_TEST_SEED, printed first), as `swift test` draws one:
# `CNNGPU_TEST_SEED=N swift test --filter CNNGPUTests.CLASS` replays a failing class.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${TEST_WORKERS:-2}
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "test-jobs: TEST_WORKERS must be a positive count, got '$workers'" >&2; exit 2; }
bin="$(swift build --show-bin-path)/cnn-gpuPackageTests.xctest"
[ -x "$bin" ] || { echo "test-jobs: $bin is missing; build it first: swift build --build-tests" >&2; exit 1; }

export CNNGPU_TEST_SEED="${CNNGPU_TEST_SEED:-$(( (RANDOM << 30 | RANDOM << 15 | RANDOM) + 1 ))}"
echo "test seed $CNNGPU_TEST_SEED (CNNGPU_TEST_SEED=$CNNGPU_TEST_SEED replays it)"

classes=$("$bin" --list-tests | sed -nE 's/^CNNGPUTests\.([A-Za-z0-9_]+)\/.*/\1/p' | sort -u)
[ -n "$classes" ] || { echo "test-jobs: the test bundle lists no test classes" >&2; exit 1; }
# TEST_SKIP_CLASSES: a regular expression of classes another job runs (scripts/test.sh says which).
if [ -n "${TEST_SKIP_CLASSES:-}" ]; then
    skipped_classes=$(grep -E "$TEST_SKIP_CLASSES" <<<"$classes" || true)
    classes=$(grep -vE "$TEST_SKIP_CLASSES" <<<"$classes" || true)
    echo "test-jobs: $(wc -w <<<"$skipped_classes") classes left to another job (TEST_SKIP_CLASSES=$TEST_SKIP_CLASSES)"
fi
# Every job: the commands given, then every class; the longest first (measured with cold caches
# on 2 cores, Benchmarks/NOTES-ci.md), so that none starts last and runs alone. A job is named by
# its class or its command's first word; a stale list only balances worse, it never leaves a
# job out.
all=$( (($# == 0)) || printf '%s\n' "$@"; sed 's/^/CNNGPUTests./' <<<"$classes")
longest="MemoryBoundTunablesTests scripts/fuzz.sh scripts/run-example.sh FusedConvolutionTests ModelZooTests
         scripts/check-kernels.sh TorchvisionReferenceTests ImplicitGEMMSolverTests DistributedTrainingTests
         FewChannelsSolverTests GraphGradientTests PoolingWideRowTests ConvolutionTests ActivationTests"
named="^(CNNGPUTests\.)?($(tr -s ' \n' '|' <<<"$longest" | sed 's/|$//'))( |$)"
jobs=$(for name in $longest; do grep -E "^(CNNGPUTests\.)?$name( |$)" <<<"$all" || true; done
       grep -vE "$named" <<<"$all" || true)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export bin logs
# One job: its log goes to a file, then (under a lock) to stdout with its outcome. A class
# is a filter for the test bundle; anything else is a command line.
run_job() {
    local job=$1 status=0 start=$SECONDS name
    name=$(printf %s "$job" | tr -c 'A-Za-z0-9._-' '_')
    # Bounded, so that a hang names its job instead of using up CI's time.
    if [[ "$job" == CNNGPUTests.* ]]; then
        timeout --kill-after=30 2400 "$bin" "$job" >"$logs/$name.log" 2>&1 || status=$?
    else
        timeout --kill-after=30 2400 bash -c "$job" >"$logs/$name.log" 2>&1 || status=$?
    fi
    {
        flock 9
        echo "== $job ($((SECONDS - start)) s)"
        cat "$logs/$name.log"
        if [ "$status" -ne 0 ]; then
            echo "$job" >>"$logs/failed"
            if [ "$status" -eq 124 ]; then echo "test-jobs: $job timed out after 40 minutes"
            elif [ "$status" -gt 128 ]; then echo "test-jobs: $job died of signal $((status - 128))"
            else echo "test-jobs: $job failed (exit $status)"; fi
        fi
    } 9>>"$logs/lock"
}
export -f run_job
start=$SECONDS
xargs -d '\n' -P "$workers" -n 1 bash -c 'run_job "$1"' _ <<<"$jobs"

# "Executed 12 tests, with 1 test skipped and 0 failures (0 unexpected) in …": the last such
# line of each class's log is its total.
read -r tests skipped failures < <(for c in $classes; do
        grep -E "Executed [0-9]+ tests?, with" "$logs/CNNGPUTests.$c.log" | tail -1
    done | sed -nE 's/.*Executed ([0-9]+) tests?, with (([0-9]+) tests? skipped and )?([0-9]+) failures?.*/\1 \3 \4/p' |
    awk '{ if (NF == 3) { s += $2; f += $3 } else f += $2; t += $1 } END { print t + 0, s + 0, f + 0 }')
echo "test-jobs: $(wc -l <<<"$jobs") jobs, $workers at a time, in $((SECONDS - start)) s;" \
     "$tests tests in $(wc -w <<<"$classes") classes: $failures failures, $skipped skipped"
if [ -s "$logs/failed" ]; then
    echo "test-jobs: failed: $(sort "$logs/failed" | tr '\n' ' ')"
    echo "test-jobs: replay a class: CNNGPU_TEST_SEED=$CNNGPU_TEST_SEED swift test --filter CNNGPUTests.CLASS"
    exit 1
fi
