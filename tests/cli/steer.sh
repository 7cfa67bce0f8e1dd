#!/usr/bin/env bash
# steer.sh: `misalign steer fit --method vti` on a tiny model and a training scene set writes a directions
# file that `eval --method vti --steer FILE` runs with (alpha 0 in both towers answers as greedy); a file
# fitted on another model, a method that reads no directions and bad flags give one clear error.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3
T=$ML_TEST_TMP/steer
rm -rf "$T" && mkdir -p "$T" || exit 1
M=$T/tiny
"$ML_BIN" init-model --out "$M" --preset tiny --seed 4 >/dev/null 2>"$T/err" &&
    "$ML_BIN" init-model --out "$T/tiny16" --preset tiny --dtype f16 --seed 4 >/dev/null 2>>"$T/err" &&
    "$ML_BIN" scenes --split train --out "$T/train" --n 4 --seed 2 --quiet >/dev/null 2>>"$T/err" &&
    "$ML_BIN" scenes --out "$T/test" --n 6 --seed 3 --quiet >/dev/null 2>>"$T/err" ||
    { fail "setup: $(cat "$T/err")"; cli_summary steer; exit 1; }
Q=$T/test/probes/pope_random.jsonl
ev() { "$ML_BIN" eval pope --questions "$Q" --images "$T/test/images" --quiet "$@"; }

"$ML_BIN" steer fit --method vti --model "$M" --data "$T/train" --out "$T/vti.steer" --n 3 --trials 2 \
    >"$T/fit.json" 2>"$T/err" && grep -q '"demos": 3' "$T/fit.json" && [ "$(head -c 8 "$T/vti.steer")" = MLSTEER1 ] &&
    pass || fail "steer fit: $(cat "$T/err")"
ev --model "$M" --out "$T/greedy" >/dev/null 2>"$T/err" &&
    ev --model "$M" --out "$T/vti0" --method vti --steer "$T/vti.steer" --param alpha_text=0 --param alpha_image=0 \
        >/dev/null 2>>"$T/err" &&
    ev --model "$M" --out "$T/vti" --method vti --steer "$T/vti.steer" >/dev/null 2>>"$T/err" &&
    "$PY" -c "
import json, sys
a, b = ([(d['question_id'], d['text']) for d in map(json.loads, open(f + '/items.jsonl'))] for f in sys.argv[1:3])
assert a == b and len(a) > 0
r = json.load(open(sys.argv[3] + '/run.json'))
assert r['method'] == 'vti' and r['steer'].endswith('vti.steer'), r" "$T/greedy" "$T/vti0" "$T/vti" &&
    pass || fail "vti alpha 0 = greedy: $(cat "$T/err")"

expect_fail "another model" "vti.steer: directions for another model \(config.json hash" \
    ev --model "$T/tiny16" --out "$T/x" --method vti --steer "$T/vti.steer"
[ ! -e "$T/x" ] && pass || fail "a refused directions file created the run directory"
expect_fail "no directions" "vti: needs its directions: --steer FILE" ev --model "$M" --out "$T/x" --method vti
expect_fail "greedy reads none" "--steer: method greedy reads no directions" \
    ev --model "$M" --out "$T/x" --steer "$T/vti.steer"
expect_fail "not a steer file" "not a steering-direction file" \
    ev --model "$M" --out "$T/x" --method vti --steer "$Q"
expect_fail "fit: method" "--method: 'dola' has no fit step" \
    "$ML_BIN" steer fit --method dola --model "$M" --data "$T/train" --out "$T/x.steer"
expect_fail "fit: subcommand" "the one subcommand is fit" "$ML_BIN" steer apply
expect_fail "fit: one demo" "--n: '1' is not an integer in \[2," \
    "$ML_BIN" steer fit --method vti --model "$M" --data "$T/train" --out "$T/x.steer" --n 1
cli_summary steer
