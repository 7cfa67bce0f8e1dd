#!/usr/bin/env bash
# beam.sh: `misalign generate --method beam|opera` on tiny random checkpoints: beam search's tokens equal the
# independent Python beam search (tests/reference/beam_ref.py on the NumPy LLaVA reference) for several beam
# counts, length penalties and early-stopping rules; beams=1 answers as greedy; OPERA runs; every bad input
# (beams, candidates, windows, thresholds out of range; a prompt leaving no room for the tokens) gives one
# error line and a non-zero exit.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy
REF=tests/reference/beam_ref.py
TOOLS=tests/reference/exactness_tools.py
T=$ML_TEST_TMP/beam
rm -rf "$T" && mkdir -p "$T" || exit 1
PROMPT="Describe the picture."

for seed in 3 4; do
    M=$T/tiny$seed
    "$ML_BIN" init-model --out "$M" --preset tiny --dtype f32 --seed $seed >/dev/null 2>"$T/err" ||
        { fail "init-model: $(cat "$T/err")"; continue; }
    # beams max_tokens length_penalty early_stopping
    for c in "3 10 1 false" "5 12 0.5 true" "4 8 2 never" "2 16 1 false"; do
        set -- $c
        name="seed $seed, $c"
        if ! "$ML_BIN" generate --model "$M" --prompt "$PROMPT" --max-tokens "$2" --method beam --param beams="$1" \
            --param length_penalty="$3" --param early_stopping="$4" --json >"$T/e.json" 2>"$T/err"; then
            fail "$name: generate: $(cat "$T/err")"; continue
        fi
        ids=$($PY $TOOLS prompt-ids "$T/e.json") || { fail "$name: no prompt_ids"; continue; }
        if ! $PY $REF --model "$M" --ids "$ids" --beams "$1" --max-tokens "$2" --length-penalty "$3" \
            --early-stopping "$4" >"$T/r.json" 2>"$T/err"; then
            fail "$name: reference: $(tail -n 1 "$T/err")"; continue
        fi
        got=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['ids'])" "$T/e.json")
        want=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['ids'])" "$T/r.json")
        if [ "$got" = "$want" ]; then pass; else fail "$name: engine $got, reference $want"; fi
    done
done

M=$T/tiny3
gen() { "$ML_BIN" generate --model "$M" --prompt "$PROMPT" --max-tokens 12 --json "$@"; }
ids_of() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))['ids'])" "$1"; }
gen >"$T/g.json" 2>"$T/err" && gen --method beam --param beams=1 >"$T/b1.json" 2>>"$T/err" ||
    fail "greedy / beams=1: $(cat "$T/err")"
if [ "$(ids_of "$T/g.json")" = "$(ids_of "$T/b1.json")" ]; then pass; else fail "beams=1 differs from greedy"; fi
if gen --method opera >"$T/o.json" 2>"$T/err" && [ -n "$(ids_of "$T/o.json")" ]; then pass
else fail "opera: $(cat "$T/err")"; fi

expect_fail "beams=0" "beams" gen --method beam --param beams=0
expect_fail "beams=65" "beams" gen --method beam --param beams=65
expect_fail "window=0" "window" gen --method opera --param window=0
expect_fail "threshold=-1" "threshold" gen --method opera --param threshold=-1
expect_fail "candidates=0" "candidates" gen --method opera --param candidates=0
expect_fail "no room" "room|context|max_position" "$ML_BIN" generate --model "$M" --prompt "$PROMPT" \
    --max-tokens 100000 --method beam
cli_summary beam
