#!/usr/bin/env bash
# The long tests, kept out of the normal run (`swift test`): a 10-minute soak of one coordinator
# with 16 emulated-compute workers and churn, the live-process wire fuzz at 10× (100,000 frames
# at the coordinator and at a worker), and the data-file fuzz at 20×.
#   bash Tests/long.sh            # about 13 minutes on 2 cores
#   SOAK_SECONDS=60 bash Tests/long.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --build-tests
export LARGEVAE_SOAK_SECONDS="${SOAK_SECONDS:-600}" LARGEVAE_FUZZ_SCALE="${FUZZ_SCALE:-10}"
swift test -c release --skip-build --disable-swift-testing --filter 'SoakTests|WireFuzzTests|DatasetsTests.FuzzTests' 2>&1 \
    | tee "${TMPDIR:-/tmp}/largevae-long.log" | grep -E "soak:|fuzz|error|passed|failed|Executed"
