#!/usr/bin/env bash
# The long fuzz run of issue 16: KILN_FUZZ_INPUTS mutants (default 50,000) per format, in the
# test build (Kiln's own code keeps its overflow checks; dependencies are optimized), under an address-space limit so that a parser asking for an absurd amount of
# memory aborts the run ("memory allocation of N bytes failed") instead of swapping.
# Usage: tests/fuzz_long.sh [inputs]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
inputs="${1:-${KILN_FUZZ_INPUTS:-50000}}"
cargo test --test fuzz --no-run
binary=$(cargo test --test fuzz --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*fuzz[^"]*\)".*/\1/p' | tail -1)
# 16 GiB of address space: the thread pools' reservations fit, a mutant's 2^40-byte ask does not.
ulimit -v $((16 * 1024 * 1024))
start=$(date +%s)
KILN_FUZZ_INPUTS="$inputs" "$binary" --test-threads 2 --nocapture
echo "fuzz: ${inputs} inputs per format in $(( $(date +%s) - start )) s"
