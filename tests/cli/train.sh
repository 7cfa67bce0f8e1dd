#!/usr/bin/env bash
# CLI tests of `misalign train`: the micro recipe (recipes/micro.json) trains every stage in well
# under a minute; its loss must fall by a real margin, and the folder it writes must load and
# generate through the inference engine unchanged.  Bad usage fails cleanly.
. "$(dirname "$0")/../cli_lib.sh"
T=$ML_TEST_TMP/train
rm -rf "$T" && mkdir -p "$T" || exit 1

out=$("$ML_BIN" train --help)
missing=""
for flag in --recipe --work --stage --model --data --out --steps --batch --lr --warmup --qa-turns \
    --caption-prob --max-images --seed --state --save-every --log --log-every --threads --quiet; do
    grep -q -- "$flag" <<<"$out" || missing="$missing $flag"
done
[ -z "$missing" ] && pass || fail "help lacks:$missing"

if "$ML_BIN" train --recipe recipes/micro.json --work "$T/work" --out "$T/model" --threads 2 --quiet 2>"$T/err"; then
    pass
    log="$T/model/train_log.jsonl"
    for f in config.json model.safetensors tokenizer.json preprocessor_config.json generation_config.json \
        recipe.json world.json train_log.jsonl; do
        [ -s "$T/model/$f" ] && pass || fail "missing $f"
    done
    # stage 0 starts near ln(vocab) and must fall to under 60% of its first logged value;
    # stage 3's last loss must be below stage 0's first.
    read -r first last s3 < <(/usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
s0 = [r["loss"] for r in rows if r["stage"] == 0]
s3 = [r["loss"] for r in rows if r["stage"] == 3]
print(s0[0], s0[-1], s3[-1])' "$log")
    /usr/bin/python3 -c "import sys; sys.exit(0 if $last < 0.6 * $first else 1)" && pass ||
        fail "stage 0 loss did not fall enough: $first -> $last"
    /usr/bin/python3 -c "import sys; sys.exit(0 if $s3 < $first else 1)" && pass ||
        fail "stage 3 loss $s3 not below the start $first"
    # the relation heads ran and logged (stages 0 and 3), on relation turns whose objects were found
    /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
heads = [r for r in rows if r["stage"] in (0, 3)]
sys.exit(0 if heads and all(0 < r["mention_rms"] < 10 and 0 < r["answer_rms"] < 10 for r in heads) else 1)' \
        "$log" && pass || fail "stages 0 and 3 lack mention_rms / answer_rms in $log"
    # the tokenizer has the 4x4 grid's position words, each one special token after <image> and <pad>
    words=$("$ML_BIN" tokenize --model "$T/model" --text "<x0><x3><y0><y3>")
    [ "$(wc -w <<<"$words")" -eq 5 ] && pass || fail "position words are not single tokens: $words"
    # the chat template's words are whole pieces of the trained vocabulary (BOS + 2 ids)
    ids=$("$ML_BIN" tokenize --model "$T/model" --text "USER: ASSISTANT:")
    [ "$(wc -w <<<"$ids")" -eq 3 ] && pass || fail "template words split into pieces: $ids"
    ans=$("$ML_BIN" generate --model "$T/model" --image "$T/work/train/images/train_000001.png" \
        --prompt "Is there a star in the image?" --max-tokens 4 2>"$T/gen.err")
    [ $? -eq 0 ] && [ -n "$ans" ] && pass || fail "generate on the trained folder: $(cat "$T/gen.err")"
else
    fail "micro recipe: $(tail -2 "$T/err")"
fi

# the recipe run again in its work folder resumes every finished stage: same weights, and the log
# still holds every stage's lines (each stage keeps its own log until they are joined)
if [ -s "$T/model/train_log.jsonl" ]; then
    cp "$T/model/train_log.jsonl" "$T/log.first" && cp "$T/model/model.safetensors" "$T/weights.first"
    "$ML_BIN" train --recipe recipes/micro.json --work "$T/work" --out "$T/model" --threads 2 --quiet 2>"$T/err" &&
        cmp -s "$T/model/model.safetensors" "$T/weights.first" && pass || fail "recipe resumed: $(tail -1 "$T/err")"
    cmp -s "$T/model/train_log.jsonl" "$T/log.first" && pass || fail "recipe resumed: its log changed"
fi

# one stage on the micro split, resumed from its train state: a second run with the same state is a no-op
if [ -d "$T/work/train" ]; then
    "$ML_BIN" train --stage 3 --model "$T/model" --data "$T/work/train" --out "$T/s3" --steps 3 --batch 4 \
        --state "$T/s3.state" --log "$T/s3.log" --log-every 1 --threads 1 --quiet >"$T/s3.json" &&
        pass || fail "stage 3 run"
    # lines an interrupted run logged past its last saved state go when the stage resumes, and so
    # does a line cut off mid-write
    cp "$T/s3.log" "$T/s3.log.first" && printf '{"stage":3,"step":4,"loss":1.0}\n{"stage":3,"st' >>"$T/s3.log"
    "$ML_BIN" train --stage 3 --model "$T/model" --data "$T/work/train" --out "$T/s3b" --steps 3 --batch 4 \
        --state "$T/s3.state" --log "$T/s3.log" --log-every 1 --threads 1 --quiet >/dev/null &&
        cmp -s "$T/s3/model.safetensors" "$T/s3b/model.safetensors" &&
        pass || fail "resuming a finished state changed the weights"
    [ "$(wc -l <"$T/s3.log.first")" -eq 3 ] && cmp -s "$T/s3.log" "$T/s3.log.first" && pass ||
        fail "resumed stage log: $(wc -l <"$T/s3.log") lines"
    # a state is not resumed by another run: other settings, or other starting weights
    "$ML_BIN" train --stage 3 --model "$T/model" --data "$T/work/train" --out "$T/s3c" --steps 3 --batch 4 --lr 0.001 \
        --state "$T/s3.state" --threads 1 --quiet >/dev/null 2>"$T/s3c.err"
    [ $? -ne 0 ] && grep -q "s3.state: saved by another run" "$T/s3c.err" && pass ||
        fail "a state resumed with other settings: $(cat "$T/s3c.err")"
    "$ML_BIN" train --stage 3 --model "$T/s3" --data "$T/work/train" --out "$T/s3c" --steps 3 --batch 4 \
        --state "$T/s3.state" --threads 1 --quiet >/dev/null 2>"$T/s3c.err"
    [ $? -ne 0 ] && grep -q "s3.state: saved by another run" "$T/s3c.err" && pass ||
        fail "a state resumed from other weights: $(cat "$T/s3c.err")"
fi

# a recipe that starts "from" a trained folder fine-tunes it: same tokenizer and config, new weights
if [ -d "$T/work/train" ]; then
    mkdir -p "$T/ft" && ln -sfn "$T/work/train" "$T/ft/train"
    printf '{"from": "%s", "work": "%s", "out": "%s", "data": {"n": 200},
 "stages": [{"stage": 3, "steps": 3, "batch": 4, "qa_turns": 2, "log_every": 1}]}\n' \
        "$T/model" "$T/ft" "$T/ft/model" >"$T/ft.json"
    if "$ML_BIN" train --recipe "$T/ft.json" --threads 1 --quiet 2>"$T/ft.err"; then
        cmp -s "$T/model/tokenizer.json" "$T/ft/model/tokenizer.json" &&
            cmp -s "$T/model/config.json" "$T/ft/model/config.json" &&
            ! cmp -s "$T/model/model.safetensors" "$T/ft/model/model.safetensors" && pass ||
            fail "recipe from a trained folder: not a fine-tune of it"
    else
        fail "recipe from a trained folder: $(tail -1 "$T/ft.err")"
    fi
    printf '{"from": "%s", "work": "%s", "stages": [{"stage": 3, "steps": 1}]}\n' "$T/nowhere" "$T/ft" >"$T/ft2.json"
    expect_fail "recipe from a missing folder" "nowhere" "$ML_BIN" train --recipe "$T/ft2.json" --threads 1 --quiet
fi

expect_fail "no mode" "recipe|stage" "$ML_BIN" train
expect_fail "stage without model" "needs --model" "$ML_BIN" train --stage 0 --data x --out y
expect_fail "bad stage" "stage" "$ML_BIN" train --stage 7
expect_fail "missing recipe" "nope.json" "$ML_BIN" train --recipe "$T/nope.json"
expect_fail "missing data" "scenes.jsonl" "$ML_BIN" train --stage 0 --model "$T/model" --data "$T/none" --out "$T/o"
cli_summary train
