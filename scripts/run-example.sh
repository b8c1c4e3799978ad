#!/usr/bin/env bash
# Builds the Examples package, which depends on this repository by path as a user's package
# would, and runs its example: a residual network defined in user code, trained for one epoch
# on Fashion-MNIST on the CPU backend, then asked to predict test images. It exits non-zero if
# the network did not learn (test accuracy under 70%).
#
#   scripts/run-example.sh [--device cpu|auto|opencl[:N]] [--train-images N] [--predict N]
#
# By default it trains on the first 20,000 of the 60,000 training images, to keep CI's run
# short on 2 cores; --train-images 60000 trains the whole epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
# The example builds in its own folder (Examples/.build), as a user's package would: sharing
# the repository's .build with another root package left SwiftPM reusing the repository's build
# description on a fresh clone ("No target named 'ResidualFashionMNIST…'"), so the library is
# compiled a second time. Without CNNGPU_OPTIMIZE_DEBUG, as a dependent package builds it (a
# plain debug build): 108 s to build and 51 s to train instead of 228 s and 6 s optimized, on
# 2 Zen 3 cores (Benchmarks/NOTES-ci.md).
unset CNNGPU_OPTIMIZE_DEBUG
build=(--package-path Examples)

log=$(swift build "${build[@]}" --product ResidualFashionMNIST 2>&1) || { echo "$log" >&2; exit 1; }
echo "$log" | tail -n 1
# Bounded: a hang must not use up CI's time.
timeout 600 "$(swift build "${build[@]}" --show-bin-path)/ResidualFashionMNIST" --train-images 20000 "$@"
