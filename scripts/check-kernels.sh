#!/usr/bin/env bash
# Runs every OpenCL kernel of Kernels/*.cl under oclgrind (a simulator that reports
# out-of-bounds accesses, data races and uninitialized reads) through the `KernelCheck*` test
# classes, then checks that no kernel was left out. oclgrind exits 0 even when it reports
# errors, so this script reads its log.
#
# Two passes: every class in one process with --data-races and out-of-bounds checks (the
# coverage test needs them all in one process), then each class alone with --uninitialized.
# oclgrind 21.10's uninitialized-value tracking itself crashes (SIGSEGV inside the simulator)
# on the batch-norm reduction kernels; a class whose --uninitialized run crashes the simulator
# is named in the output as not checked for uninitialized reads, never passed silently. A
# test failure or a reported problem in either pass fails the script. CLBlast stays out of these runs: its kernels can abort
# inside LLVM at exit under oclgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same library flags as scripts/test.sh, so the builds are shared (Package.swift says why).
export CNNGPU_OPTIMIZE_DEBUG="${CNNGPU_OPTIMIZE_DEBUG:-1}"

command -v oclgrind >/dev/null || { echo "check-kernels: oclgrind is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
swift build --build-tests >/dev/null
bin="$(swift build --show-bin-path)/cnn-gpuPackageTests.xctest"

classes=$(grep -rhoE 'class KernelCheck[A-Za-z0-9]*Tests' Tests/CNNGPUTests/KernelCheck | awk '{print "CNNGPUTests."$2}' | sort -u)
[ -n "$classes" ] || { echo "check-kernels: no KernelCheck test classes found" >&2; exit 1; }
filter="$(echo $classes | tr ' ' ','),CNNGPUTests.KernelCoverageTests"

log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
echo "check-kernels: running $(echo $classes | wc -w) classes under oclgrind --data-races --check-api"
status=0
CNNGPU_KERNEL_COVERAGE=1 CNNGPU_REQUIRE_OPENCL=1 \
    oclgrind --data-races --check-api --log "$log" "$bin" "$filter" >"$out" 2>&1 || status=$?

if [ "$status" -ne 0 ] || grep -qE "error|failed" <(grep -E "Executed|error:" "$out"); then
    cat "$out"
    echo "check-kernels: the kernel tests failed under oclgrind (exit $status)" >&2
    exit 1
fi
if [ -s "$log" ]; then
    head -c 20000 "$log"
    echo "check-kernels: oclgrind reported problems (above)" >&2
    exit 1
fi
summary=$(grep -E "Executed [0-9]+ tests?" "$out" | tail -1)
executed=$(echo "$summary" | sed -nE 's/.*Executed ([0-9]+) tests?.*/\1/p')
if [ -z "$executed" ] || [ "$executed" -eq 0 ]; then
    cat "$out"
    echo "check-kernels: no test ran under oclgrind (is the filter right?), so nothing was checked" >&2
    exit 1
fi
if echo "$summary" | grep -qE "[1-9][0-9]* tests? skipped"; then
    grep -E "Skipped|skipped" "$out" | head -20
    echo "check-kernels: tests were skipped under oclgrind ($summary), so their kernels went unchecked" >&2
    exit 1
fi
# The coverage test prints the device it ran on: without oclgrind's platform the run went to
# another OpenCL implementation (PoCL) and the checker saw nothing.
if ! grep -qE "^kernel-check device: .*; platform: Oclgrind" "$out"; then
    grep -E "^kernel-check device:" "$out" || echo "(the coverage test printed no device)"
    echo "check-kernels: the kernel tests did not run on oclgrind's platform, so nothing was checked" >&2
    exit 1
fi
grep -E "^kernel-check (device|coverage):" "$out"
echo "$summary"

echo "check-kernels: each class again under oclgrind --uninitialized"
unchecked=()
for class in $classes; do
    ulog=$(mktemp); uout=$(mktemp)
    ustatus=0
    # No Swift backtracer: when the simulator crashes it can wait on the dead process for minutes.
    SWIFT_BACKTRACE=enable=no CNNGPU_REQUIRE_OPENCL=1 \
        oclgrind --uninitialized --check-api --log "$ulog" "$bin" "$class" >"$uout" 2>&1 || ustatus=$?
    if [ "$ustatus" -eq 139 ] || [ "$ustatus" -eq 134 ]; then   # SIGSEGV or SIGABRT inside the simulator
        unchecked+=("${class#CNNGPUTests.}")
    elif [ "$ustatus" -ne 0 ] || grep -qE "error|failed" <(grep -E "Executed|error:" "$uout"); then
        cat "$uout"; rm -f "$ulog" "$uout"
        echo "check-kernels: $class failed under oclgrind --uninitialized (exit $ustatus)" >&2
        exit 1
    elif [ -s "$ulog" ]; then
        head -c 20000 "$ulog"; rm -f "$ulog" "$uout"
        echo "check-kernels: oclgrind reported uninitialized reads in $class (above)" >&2
        exit 1
    fi
    rm -f "$ulog" "$uout"
done
if [ ${#unchecked[@]} -gt 0 ]; then
    echo "check-kernels: oclgrind's --uninitialized checker crashed (inside the simulator) on ${unchecked[*]};"
    echo "check-kernels: those kernels were checked for out-of-bounds accesses and races only"
    echo "check-kernels: clean — no out-of-bounds access or race; no uninitialized read in the other classes"
else
    echo "check-kernels: clean — no out-of-bounds access, race or uninitialized read"
fi
