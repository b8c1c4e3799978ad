#!/usr/bin/env bash
# Packages cnn-gpu for a Linux machine with a GPU and no Swift: the CLI and the test bundle
# built with the Swift runtime linked in (--static-swift-stdlib), every shared library they load
# that a bare machine may lack (libOpenCL.so.1, libclblast.so.1, oneDNN and libgomp, image codecs, XCTest),
# Fashion-MNIST, and run.sh, which there lists the devices, runs the op and engine tests on the
# OpenCL GPU, tunes ResNet-50, runs `cnn-gpu bench` and a LeNet-5 epoch, and writes everything
# to $OUT (or ./results).
#
#   scripts/package-gpu-check.sh [DIR]      # default: .gpu-check (git-ignored), under 64 MiB
#   DIR/run.sh                              # on the GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.gpu-check}"
rm -rf "$dest"; mkdir -p "$dest/bin" "$dest/lib" "$dest/data"

swift build -c release --static-swift-stdlib --product cnn-gpu
swift build -c release --static-swift-stdlib --build-tests -Xswiftc -enable-testing
bin="$(swift build -c release --show-bin-path)"
cp "$bin/cnn-gpu" "$dest/bin/"
cp "$bin/cnn-gpuPackageTests.xctest" "$dest/bin/"

# Every library the two programs load, except the C runtime every Linux has.
for exe in "$dest/bin/cnn-gpu" "$dest/bin/cnn-gpuPackageTests.xctest"; do
    ldd "$exe" | awk '/=> \// {print $3}' | while read -r lib; do
        case "$(basename "$lib")" in
            libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*) ;;
            *) cp -Ln "$lib" "$dest/lib/" ;;
        esac
    done
done
cp -L /usr/share/datasets/fashion-mnist/*.gz "$dest/data/" 2>/dev/null || echo "package: no Fashion-MNIST (setup.sh installs it); the LeNet run will be skipped"

cat > "$dest/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: devices, tests on the OpenCL GPU, tuning, bench, a LeNet-5 epoch.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/results}"; mkdir -p "$out"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The ICD loader finds vendors in /etc/OpenCL/vendors; a driver without that file gets one here.
if [ ! -d /etc/OpenCL/vendors ] || [ -z "$(ls /etc/OpenCL/vendors 2>/dev/null)" ]; then
    nv="$(ldconfig -p | awk '/libnvidia-opencl.so.1/ {print $NF; exit}')"
    [ -z "$nv" ] && nv="$(find / -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)"
    if [ -n "$nv" ]; then
        mkdir -p "$here/vendors"; echo "$nv" > "$here/vendors/nvidia.icd"; export OCL_ICD_VENDORS="$here/vendors"
    fi
fi
export XDG_CACHE_HOME="$out/cache" CNNGPU_REQUIRE_OPENCL=1
log() { echo "== $*" | tee -a "$out/summary.txt"; }
log "devices"; "$here/bin/cnn-gpu" devices 2>&1 | tee "$out/devices.txt"
gpu="$("$here/bin/cnn-gpu" devices 2>/dev/null | awk '/opencl:[0-9]+/ && /gpu/ {match($0, /opencl:[0-9]+/); print substr($0, RSTART, RLENGTH); exit}')"
gpu="${gpu:-opencl:0}"; log "GPU device: $gpu"
log "tests"
timeout 420 "$here/bin/cnn-gpuPackageTests.xctest" \
    "CNNGPUTests.ConvolutionTests,CNNGPUTests.PoolingTests,CNNGPUTests.NormalizationTests,CNNGPUTests.ActivationTests,CNNGPUTests.ElementwiseTests,CNNGPUTests.LossTests,CNNGPUTests.OptimizerTests,CNNGPUTests.FusedConvolutionTests,CNNGPUTests.FusedBatchNormReLUTests,CNNGPUTests.FusedAddActivationTests,CNNGPUTests.ImplicitGEMMSolverTests,CNNGPUTests.CompiledPlanTests,CNNGPUTests.GraphGradientTests,CNNGPUTests.TrainingStepTests" \
    > "$out/tests.txt" 2>&1; echo "tests exit $?" | tee -a "$out/summary.txt"; grep -E "Executed|error:" "$out/tests.txt" | tail -20 | tee -a "$out/summary.txt"
log "tune resnet50"; timeout 300 "$here/bin/cnn-gpu" tune resnet50 -b 8 --device "$gpu" > "$out/tune.txt" 2>&1; tail -3 "$out/tune.txt" | tee -a "$out/summary.txt"
log "bench"; timeout 400 "$here/bin/cnn-gpu" bench --quick --devices "cpu,$gpu" --json "$out/bench.json" --report "$out/bench.md" > "$out/bench.txt" 2>&1; tail -40 "$out/bench.txt" | tee -a "$out/summary.txt"
log "profile"; timeout 200 "$here/bin/cnn-gpu" bench --profile resnet50 --devices "$gpu" --profile-file "$out/profile.json" > "$out/profile.txt" 2>&1; tail -30 "$out/profile.txt" | tee -a "$out/summary.txt"
if ls "$here"/data/*.gz >/dev/null 2>&1; then
    log "lenet5"; timeout 300 "$here/bin/cnn-gpu" train lenet5 --device "$gpu" --data "$here/data" --epochs 2 --checkpoint "$out/lenet5" --overwrite > "$out/lenet5.txt" 2>&1; tail -4 "$out/lenet5.txt" | tee -a "$out/summary.txt"
fi
RUN
chmod +x "$dest/run.sh"
du -sh "$dest"
echo "package: $dest (run $dest/run.sh on the GPU machine; results in \$OUT or $dest/results)"
