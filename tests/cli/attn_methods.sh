#!/usr/bin/env bash
# attn_methods.sh: PAI and SID from the command line on the shipped organism: `misalign generate` and
# `misalign eval pope` answer with them (every item carries the method and its parameters), --help lists
# their parameters, and a layer the model lacks or an out-of-range parameter is one error line, exit 1 or 2.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3
T=$ML_TEST_TMP/attn_methods
rm -rf "$T" && mkdir -p "$T" || exit 1
M=models/organism
S=$T/scenes
"$ML_BIN" scenes --out "$S" --n 4 --seed 5 --quiet >/dev/null 2>"$T/err" || { fail "scenes: $(cat "$T/err")"; cli_summary attn_methods; exit 1; }
IMG=$S/images/$(ls "$S/images" | head -n 1)

out=$("$ML_BIN" generate --help)
for w in pai sid gamma start_layer keep layer; do grep -qw -- "$w" <<<"$out" && pass || fail "generate --help lacks $w"; done

for m in pai sid; do
    param=gamma=2; [ $m = sid ] && param=keep=3 # sid: fewer than the organism's 16 image tokens
    if "$ML_BIN" generate --model "$M" --image "$IMG" --prompt "Is there a circle in the image?" --method $m \
        --max-tokens 4 >"$T/gen_$m" 2>"$T/err" && [ -s "$T/gen_$m" ]; then pass; else fail "generate $m: $(cat "$T/err")"; fi
    if "$ML_BIN" eval pope --model "$M" --questions "$S/probes/pope_adversarial.jsonl" --images "$S/images" --limit 6 \
        --method $m --param $param --out "$T/r_$m" --quiet >/dev/null 2>"$T/err"; then pass
    else fail "eval pope $m: $(cat "$T/err")"; fi
    check=$("$PY" - "$T/r_$m" $m <<'PYEOF' 2>&1
import json, sys
items = [json.loads(l) for l in open(sys.argv[1] + "/items.jsonl")]
assert len(items) == 6 and all(it["method"] == sys.argv[2] and it["params"]["decode"] == "greedy" for it in items), items[0]
print("ok")
PYEOF
)
    [ "$check" = ok ] && pass || fail "eval pope $m items: $check"
done

expect_fail "pai layer" "start_layer 3 does not exist: the model has 3 decoder layers" \
    "$ML_BIN" generate --model "$M" --image "$IMG" --prompt "Is there a circle?" --method pai --param start_layer=3
expect_fail "sid layer" "layer 3 does not exist: the model has 3 decoder layers" \
    "$ML_BIN" eval pope --model "$M" --questions "$S/probes/pope_adversarial.jsonl" --images "$S/images" --method sid \
    --param layer=3 --out "$T/bad" --quiet
expect_fail "sid keep" "keep must be an integer" \
    "$ML_BIN" generate --model "$M" --image "$IMG" --prompt "Is there a circle?" --method sid --param keep=0
cli_summary attn_methods
