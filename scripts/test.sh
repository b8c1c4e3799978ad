#!/usr/bin/env bash
# Runs the whole test suite: every kernel under oclgrind (out-of-bounds, races, uninitialized
# reads), then `swift test` (every op on the CPU and OpenCL backends against a reference).
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

scripts/check-kernels.sh
# Every parser under libFuzzer for a bounded time (20 s each unless FUZZ_SECONDS says otherwise);
# the seeded mutator in FuzzTests runs with the suite below.
scripts/fuzz.sh all "${FUZZ_SECONDS:-20}"
# The Examples package: a user-defined residual network trained on Fashion-MNIST through the
# library's public API, built as a dependent package would build it.
scripts/run-example.sh
# XCTest only: the suite has no Swift Testing tests, and its empty summary would close the log.
# Last, so its summary closes the log.
swift test --disable-swift-testing 2>&1
