#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build/fuzz) and runs each for the
# given number of seconds (default 60) over the corpus in tests/corpus.
# New inputs the fuzzer finds go to a temporary directory, not into the
# repository; a crash leaves its reproducer in build/fuzz/artifacts/ and
# makes this script fail.
#
#   ops/fuzz.sh [SECONDS] [TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
only=${2:-}
build=build/fuzz
targets=(fuzz_job_decode)

ops/ensure-deps.sh
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCARAVAN_FUZZ=ON >/dev/null
mkdir -p "$build/artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in "${targets[@]}"; do
    [ -n "$only" ] && [ "$only" != "$target" ] && continue
    cmake --build "$build" --target "$target" -j"$(nproc)"
    mkdir -p "$work/$target"
    echo "fuzz: $target for ${seconds}s"
    "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
        "$work/$target" tests/corpus/valid tests/corpus/invalid
done
