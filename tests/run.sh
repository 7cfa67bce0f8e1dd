#!/usr/bin/env bash
# Runs every test program in BUILD/tests and every tests/cli/*.sh script (helpers: tests/cli_lib.sh),
# adds up their "<name>: P passed, F failed" lines and prints the total.
# A program that crashes or exits nonzero without such a line counts as one failure.
set -u
build=${1:-build}
export ML_BIN="$PWD/$build/misalign" ML_TEST_TMP="$PWD/$build/tmp"
mkdir -p "$ML_TEST_TMP"
passed=0 failed=0 bad=()
run_one() {
    local name=$1; shift
    local out rc line p f
    out=$(timeout 900 "$@" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")
        f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    else
        p=0; f=$([ "$rc" -eq 0 ] && echo 0 || echo 1); [ "$rc" -eq 0 ] && p=1
    fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then bad+=("$name"); printf '%s\n' "$out" | tail -n 40; echo "FAILED: $name (exit $rc)"; else echo "ok   $name ($p)"; fi
}
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for s in tests/cli/*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" bash "$s"
done
[ ${#bad[@]} -gt 0 ] && echo "failed: ${bad[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
