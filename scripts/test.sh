#!/usr/bin/env bash
# Runs the whole test suite: every kernel under oclgrind (out-of-bounds, races, uninitialized
# reads), every parser under libFuzzer, the Examples package, and the XCTest suite (every op on
# the CPU and OpenCL backends against a reference), two jobs at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

# PoCL compiles kernels at first launch (seconds each when cold); keep its cache between runs.
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$HOME/.cache/cnn-gpu/pocl}"
mkdir -p "$POCL_CACHE_DIR"
# PoCL is installed by setup.sh, so a missing OpenCL device is a failure, not a skip.
export CNNGPU_REQUIRE_OPENCL=1
# Optimize the library in debug builds (Package.swift says why it is opt-in); every build below
# shares these flags, so the library is compiled once.
export CNNGPU_OPTIMIZE_DEBUG=1

# Packages depend on this one by version only if its manifest, as they evaluate it (without
# CNNGPU_OPTIMIZE_DEBUG), gives no target unsafe flags: SwiftPM refuses those in a dependency.
manifest=$(env -u CNNGPU_OPTIMIZE_DEBUG swift package dump-package)
if grep -q '"unsafeFlags"' <<<"$manifest"; then
    echo "test: Package.swift gives a target unsafe flags without CNNGPU_OPTIMIZE_DEBUG set, so other" \
         "packages could not depend on this one by version; make them opt-in as -O is" >&2
    exit 1
fi
# The test bundle, once: check-kernels and the fuzz replay build reuse it. A failed build
# prints its errors.
log=$(swift build --build-tests 2>&1) || { grep -E "error:" <<<"$log" | head -40 || echo "$log" | tail -40; exit 1; }
tail -n 1 <<<"$log"
# Then, two at a time (TEST_WORKERS), each printed whole as it ends (scripts/test-jobs.sh):
# - every kernel under oclgrind;
# - every parser under libFuzzer for a bounded time (10 s each unless FUZZ_SECONDS says
#   otherwise: a smoke test of tens of thousands of inputs each; `scripts/fuzz.sh all 600`
#   for a campaign);
#   the seeded mutator in FuzzTests runs with the suite;
# - the Examples package: a user-defined residual network trained on Fashion-MNIST through the
#   library's public API, built as a dependent package would build it;
# - every XCTest class in its own process, but the KernelCheck classes: they are
#   check-kernels.sh's drivers, which it runs under oclgrind, checking their results against
#   the CPU backend there (on PoCL as well they took 348 s more of the jobs' time). The summary
#   closes the log.
export TEST_SKIP_CLASSES='^KernelCheck'
scripts/test-jobs.sh scripts/check-kernels.sh "scripts/fuzz.sh all ${FUZZ_SECONDS:-10}" scripts/run-example.sh
