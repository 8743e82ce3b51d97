#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build/fuzz) and runs them over their
# seed corpora for the given number of seconds in all (default 60), split
# evenly between the targets; a single TARGET gets all of it.
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
targets=(fuzz_job_decode fuzz_rpc_frame fuzz_raft_wire)

# Seed directories of each target (read, never written).
seeds_of() {
    case "$1" in
    fuzz_job_decode) echo tests/corpus/valid tests/corpus/invalid ;;
    fuzz_rpc_frame) echo tests/fuzz/rpc_frame_seeds ;;
    fuzz_raft_wire) echo tests/fuzz/raft_wire_seeds ;;
    esac
}

per_target=$seconds
if [ -z "$only" ]; then
    per_target=$((seconds / ${#targets[@]}))
    [ "$per_target" -ge 1 ] || per_target=1
fi

ops/ensure-deps.sh
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCARAVAN_FUZZ=ON >/dev/null
mkdir -p "$build/artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in "${targets[@]}"; do
    [ -n "$only" ] && [ "$only" != "$target" ] && continue
    cmake --build "$build" --target "$target" -j"$(nproc)"
    mkdir -p "$work/$target"
    echo "fuzz: $target for ${per_target}s"
    # shellcheck disable=SC2046 # the seed list is meant to split into words
    "$build/tests/fuzz/$target" -max_total_time="$per_target" -max_len=65536 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
        "$work/$target" $(seeds_of "$target")
done
