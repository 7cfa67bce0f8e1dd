#!/usr/bin/env bash
# Replays each fuzz target's seed corpus (fuzz/corpus/<target>/) and fuzzes
# for a few seconds; prints "test_fuzz: P passed, F failed".
set -u
build=${1:-build-fuzz}
passed=0 failed=0
for f in "$build"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f"); corpus=fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d); [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    if "$f" -max_total_time=${FUZZ_SECONDS:-8} -timeout=10 -rss_limit_mb=2048 "$work" >"$work.log" 2>&1; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); tail -n 30 "$work.log"; echo "FAILED: $name"
    fi
    rm -rf "$work" "$work.log"
done
echo "test_fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
