#!/usr/bin/env bash
# matrix.sh: scripts/matrix.sh (`make matrix`) at its smallest: two models, two methods, 3 scenes.  Every
# run is made and the report holds a cause x method section per model and prompt column; a second call
# skips the finished runs; an unknown method is reported and makes the script exit 1.
. "$(dirname "$0")/../cli_lib.sh"

T=$ML_TEST_TMP/matrix
rm -rf "$T" && mkdir -p "$T" || exit 1
for s in 1 2; do
    "$ML_BIN" init-model --out "$T/org$s" --preset tiny --seed "$s" >/dev/null 2>"$T/err" || fail "init-model: $(cat "$T/err")"
done
mx() { ML_BIN="$ML_BIN" MATRIX_OUT="$T/m" MATRIX_SCENES=3 MATRIX_THREADS=1 MATRIX_MODELS="$T/org1 $T/org2" bash scripts/matrix.sh; }

# greedy and vcd, each with the default prompt and with VCD's suffix (greedy too, as its baseline)
MATRIX_METHODS=vcd mx >"$T/out" 2>&1 && pass || fail "matrix: $(tail -3 "$T/out")"
[ "$(grep -c '^\[[0-9]*/8\] ' "$T/out")" = 8 ] && pass || fail "progress lines: $(cat "$T/out")"
[ "$(ls -d "$T"/m/runs/org*/*/*/ | wc -l)" = 8 ] && pass || fail "run folders: $(ls -R "$T/m/runs")"
md=$T/m/report.md
[ "$(grep -c '^### .*org[12], default prompt' "$md")" = 2 ] && pass || fail "default-prompt sections"
[ "$(grep -c '^### .*org[12], prompt suffix " Please answer this question with one word."' "$md")" = 2 ] && pass ||
    fail "suffix sections"
grep -q '^| pope_random | vcd | ' "$md" && grep -q '| McNemar p (exact) |' "$md" && pass || fail "yes/no rows"
[ "$(grep -c '<svg' "$T/m/report.html")" = 8 ] && pass || fail "plots: accuracy and yes-ratio per section"

# resumed: nothing is run again
MATRIX_METHODS=vcd mx >"$T/out2" 2>&1 && [ "$(grep -c 'done before' "$T/out2")" = 8 ] && pass ||
    fail "rerun: $(cat "$T/out2")"

# a method that fails: reported, the others kept, exit 1
MATRIX_METHODS="vcd nosuch" mx >"$T/out3" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "nosuch : FAILED: .*unknown method 'nosuch'" "$T/out3" && grep -q '^failed: org1 nosuch' "$T/out3" &&
    [ -s "$T/m/report.md" ] && pass || fail "failing method (exit $rc): $(cat "$T/out3")"

cli_summary matrix
