#!/usr/bin/env bash
# Installs every system package cnn-gpu needs (Debian/Ubuntu, idempotent) and builds the
# `cnn-gpu` binary in release mode. Run from anywhere: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# OpenCL ICD loader + headers, CLBlast (GEMM on OpenCL), PoCL (OpenCL on CPUs), oneDNN (CPU
# backend's GEMM and convolutions), oclgrind (kernel checker), the Fashion-MNIST package (training data), zlib
# (reads the gzipped datasets), libjpeg-turbo and libpng (image folders), clinfo, Open MPI
# (data-parallel training under mpirun) and iproute2 (the two-namespace MPI test).
PACKAGES=(pkg-config ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd
          libdnnl-dev oclgrind dataset-fashion-mnist zlib1g-dev libturbojpeg0-dev libpng-dev clinfo
          libopenmpi-dev openmpi-bin iproute2)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""
    elif command -v sudo >/dev/null; then SUDO="sudo"
    else
        echo "setup: need root to install packages. Run as root, or install them yourself:" >&2
        echo "  apt-get install ${missing[*]}" >&2
        exit 1
    fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "setup: system packages already installed"
fi

if ! command -v swift >/dev/null; then
    echo "setup: the Swift toolchain (6.0 or later) is not on PATH; install it from swift.org and re-run." >&2
    exit 1
fi

swift build -c release --product cnn-gpu
echo "setup: built $(swift build -c release --show-bin-path)/cnn-gpu"
echo "setup: try it:  $(swift build -c release --show-bin-path)/cnn-gpu devices"
