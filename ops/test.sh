#!/usr/bin/env bash
# The test command (README.md; CI runs exactly this through .ci/run):
#   1. installs the Debian packages that are missing (ops/ensure-deps.sh),
#   2. configures and builds with AddressSanitizer + UndefinedBehaviorSanitizer
#      and -Werror (build/test),
#   3. checks formatting with clang-format,
#   4. runs the whole ctest suite,
#   5. fuzzes every libFuzzer target for a bounded time in all (ops/fuzz.sh).
# Exits non-zero on the first failure.
#
# Environment: CARAVAN_FUZZ_SECONDS (default 60; 0 skips fuzzing),
#              CARAVAN_TEST_JOBS (parallel ctest jobs, default: cores).
set -euo pipefail
cd "$(dirname "$0")/.."

ops/ensure-deps.sh

build=build/test
jobs=${CARAVAN_TEST_JOBS:-$(nproc)}
echo "== configure and build ($build, ASan+UBSan, -Werror)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCARAVAN_WERROR=ON -DCARAVAN_SANITIZE=ON \
    -DCARAVAN_REQUIRE_PG=ON >/dev/null
cmake --build "$build" -j"$jobs"

echo "== format check (clang-format)"
cmake --build "$build" --target format-check

echo "== unit and integration tests (ctest)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$build" && ctest --output-on-failure -j"$jobs")

fuzz_seconds=${CARAVAN_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ]; then
    echo "== fuzzing (every target, ${fuzz_seconds}s in all)"
    ops/fuzz.sh "$fuzz_seconds"
fi
echo "== all tests passed"
