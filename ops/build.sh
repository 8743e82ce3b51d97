#!/usr/bin/env bash
# Installs what is missing and builds Caravan (optimized, no sanitizers)
# into build/release. Prints where the programs are.
set -euo pipefail
cd "$(dirname "$0")/.."

ops/ensure-deps.sh
build=build/release
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
echo "ops: built $build/regiond/regiond and $build/cli/caravan"
