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

# Packages depend on this one by version only if its manifest, as they evaluate it (without
# CNNGPU_OPTIMIZE_DEBUG), gives no target unsafe flags: SwiftPM refuses those in a dependency.
manifest=$(env -u CNNGPU_OPTIMIZE_DEBUG swift package dump-package)
if grep -q '"unsafeFlags"' <<<"$manifest"; then
    echo "test: Package.swift gives a target unsafe flags without CNNGPU_OPTIMIZE_DEBUG set, so other" \
         "packages could not depend on this one by version; make them opt-in as -O is" >&2
    exit 1
fi
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
