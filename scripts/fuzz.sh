#!/usr/bin/env bash
# Fuzzes one parser (or all) with libFuzzer for a bounded time:
#
#   scripts/fuzz.sh TARGET SECONDS     TARGET: idx gzip cifar10 safetensors checkpoint jpeg png, or all
#
# Builds the cnn-gpu-fuzz target with -sanitize=fuzzer,address in its own scratch folder
# (.build/fuzz, so the normal build is untouched), seeds a corpus under .build/fuzz/corpus/TARGET,
# and runs. A crash leaves its input in .build/fuzz/artifacts/TARGET-crash-*; replay it with a
# normal build: swift build --product cnn-gpu-fuzz && .build/debug/cnn-gpu-fuzz TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
# The same library flags as scripts/test.sh, so the builds are shared (Package.swift says why).
export CNNGPU_OPTIMIZE_DEBUG="${CNNGPU_OPTIMIZE_DEBUG:-1}"
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:-60}
scratch=.build/fuzz

# The instrumented library is built unoptimized unless FUZZ_OPTIMIZE=1: 152 s beside CI's other
# jobs where -O took 343 s alone, and its 20 s runs still executed 45k–306k inputs per parser
# (Benchmarks/NOTES-ci.md); set FUZZ_OPTIMIZE=1 for a long campaign.
optimize=()
[ "${FUZZ_OPTIMIZE:-0}" = 1 ] || optimize=(env -u CNNGPU_OPTIMIZE_DEBUG)
"${optimize[@]}" swift build --scratch-path "$scratch" --product cnn-gpu-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLIBFUZZER \
    -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | tail -3
fuzzer="$scratch/debug/cnn-gpu-fuzz"

# Seeds come from the plain (replay) build, which can write them.
swift build --product cnn-gpu-fuzz 2>&1 | tail -1
rm -rf "$scratch/seeds" && .build/debug/cnn-gpu-fuzz --seeds "$scratch/seeds"

targets=$target
[ "$target" = all ] && targets="idx gzip cifar10 safetensors checkpoint jpeg png"
for t in $targets; do
    corpus="$scratch/corpus/$t"
    mkdir -p "$corpus"
    cp -n "$scratch/seeds/$t"/* "$corpus"/ 2>/dev/null || true
    echo "== $t: $seconds s"
    # -rss_limit_mb: the parsers' own limits must keep memory well under this.
    mkdir -p "$scratch/artifacts"
    "$fuzzer" --target="$t" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$scratch/artifacts/$t-" "$corpus" \
        2>&1 | grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|.*deadly signal|.*Fatal error)" || true
    if ls "$scratch/artifacts/$t-"* 2>/dev/null; then echo "$t: failing inputs above"; exit 1; fi
done
