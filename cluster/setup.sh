#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for LargeVAE: system libraries, Python test tools,
# and a release build. Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# BLAS and ZeroMQ through system-library targets; zlib and libpng for data and images;
# iproute2 for the test that puts coordinator and workers in network namespaces.
PACKAGES="libopenblas-dev libzmq3-dev zlib1g-dev libpng-dev iproute2"
missing=""
for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# Python packages the tests read artifacts back with (and that regenerate reference values).
python3 -c "import numpy, safetensors, tensorboard" 2>/dev/null \
    || python3 -m pip install -q numpy safetensors tensorboard

swift build -c release --product largevae
echo "setup done: $(pwd)/.build/release/largevae"
