#!/usr/bin/env bash
# eval.sh: `misalign eval` on a tiny random checkpoint and a small scene set: the run directory contract
# (every line carries the method and its parameters; summary.json equals what `misalign score` computes
# from items.jsonl), kill -9 in the middle of a run and resume = one uninterrupted run, --no-prefix-cache
# gives the same answers, AMBER and CHAIR runs score through their scorers, `misalign report` reads the
# runs, and bad input gives one error line naming the file and the problem (exit 1, or 2 for bad usage).
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy, PIL
T=$ML_TEST_TMP/eval
rm -rf "$T" && mkdir -p "$T" || exit 1
M=$T/tiny
S=$T/scenes
"$ML_BIN" init-model --out "$M" --preset tiny --seed 4 >/dev/null 2>"$T/err" || { fail "init-model: $(cat "$T/err")"; cli_summary eval; exit 1; }
"$ML_BIN" scenes --out "$S" --n 30 --seed 7 --quiet >/dev/null 2>"$T/err" || { fail "scenes: $(cat "$T/err")"; cli_summary eval; exit 1; }

ev() { "$ML_BIN" eval "$@" --model "$M" --quiet; }

# the lines without their timing, for exact comparison
untimed() { "$PY" -c "
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l); d.pop('seconds'); print(json.dumps(d, sort_keys=True))" "$1"; }

# --help lists every flag and every method with its parameters
out=$("$ML_BIN" eval --help)
missing=""
for w in --model --questions --images --out --method --param --split --limit --seed --max-tokens --max-tokens-open \
    --prompt-suffix --parser --files --prompt --gt --coco-annotations --synonyms --annotations --template --system --image-aspect \
    --no-prefix-cache --threads --quiet greedy sample apc vcd icd m3id ritual alpha beta noise_step alpha_pos temperature top_p top_k; do
    grep -q -- "$w" <<<"$out" || missing="$missing $w"
done
[ -z "$missing" ] && pass || fail "eval --help lacks:$missing"

# POPE-format file with VCD and non-default parameters: every line says so; the summary is the scorer's
Q=$S/probes/pope_random.jsonl
if ev pope --questions "$Q" --images "$S/images" --out "$T/vcd" --method vcd --param alpha=0.5 --param noise_step=999 \
    --seed 3 >"$T/out" 2>"$T/err"; then pass; else fail "eval pope vcd: $(cat "$T/err")"; fi
grep -q "summary.json: pope random vcd acc" "$T/out" && pass || fail "result line: $(cat "$T/out")"
"$ML_BIN" score pope --questions "$Q" --answers "$T/vcd/items.jsonl" --json >"$T/score.json" 2>"$T/err" || fail "score: $(cat "$T/err")"
check=$("$PY" - "$T/vcd" "$Q" "$T/score.json" <<'EOF' 2>&1
import json, sys
run, q, score = sys.argv[1:]
qs = [json.loads(l) for l in open(q)]
items = [json.loads(l) for l in open(run + '/items.jsonl')]
s, sc = json.load(open(run + '/summary.json')), json.load(open(score))
want = {"alpha": 0.5, "beta": 0.2, "noise_step": 999, "decode": "sample", "temperature": 1, "top_p": 1, "top_k": 0}
assert len(items) == len(qs), (len(items), len(qs))
for it, qq in zip(items, qs):
    assert it["method"] == "vcd" and it["params"] == want, it
    assert it["question_id"] == qq["question_id"] and it["label"] == qq["label"], it
    assert it["prompt"] == qq["text"], it["prompt"]  # one prompt for every method unless asked
    assert it["parsed"] in ("yes", "no") and it["seconds"] >= 0 and 1 <= it["tokens"] <= 8
    # two passes: each prompt once, then both fed every token but the last
    assert it["forwards"] == 2 * it["tokens"], it
    assert it["image"] == qq["image"]
for k in ("TP", "FP", "TN", "FN", "accuracy", "precision", "recall", "f1", "yes_ratio"):
    assert s[k] == sc[k], (k, s[k], sc[k])
assert s["method"] == "vcd" and s["split"] == "random" and s["params"] == want and s["n"] == len(qs)
assert abs(s["seconds_per_item"] - sum(i["seconds"] for i in items) / len(items)) < 1e-9
r = json.load(open(run + '/run.json'))
assert r["method"] == "vcd" and r["params"] == want and r["seed"] == 3 and r["benchmark"] == "pope"
assert r["prompt_suffix"] == "" and r["prompt_template"] == "USER: <image>\n{question} ASSISTANT:", r
print("ok")
EOF
)
[ "$check" = ok ] && pass || fail "vcd run contract: $check"

# --prompt-suffix method: the method's published suffix, asked and recorded; TEXT: that text
for how in method " Answer briefly."; do
    rm -rf "$T/suffix"
    ev pope --questions "$Q" --images "$S/images" --out "$T/suffix" --method vcd --limit 2 --prompt-suffix "$how" \
        >/dev/null 2>"$T/err" || fail "--prompt-suffix $how: $(cat "$T/err")"
    want=$how
    [ "$how" = method ] && want=" Please answer this question with one word."
    check=$("$PY" - "$T/suffix" "$Q" "$want" <<'EOF' 2>&1
import json, sys
run, q, want = sys.argv[1:]
qs = [json.loads(l) for l in open(q)]
items = [json.loads(l) for l in open(run + '/items.jsonl')]
assert [it["prompt"] for it in items] == [qq["text"] + want for qq in qs[:2]], items
r = json.load(open(run + '/run.json'))
assert r["prompt_suffix"] == want and r["prompt_template"] == "USER: <image>\n{question}" + want + " ASSISTANT:", r
print("ok")
EOF
)
    [ "$check" = ok ] && pass || fail "--prompt-suffix $how: $check"
done

# ICD, M3ID and RITUAL through eval and generate: every line says the method; the prefix cache changes nothing
for m in icd m3id ritual; do
    ev pope --questions "$Q" --images "$S/images" --out "$T/m_$m" --method $m --limit 6 --seed 2 >/dev/null 2>"$T/err" &&
        ev pope --questions "$Q" --images "$S/images" --out "$T/m_${m}_nc" --method $m --limit 6 --seed 2 --no-prefix-cache \
            >/dev/null 2>>"$T/err" &&
        [ "$(grep -c "\"method\":\"$m\"" "$T/m_$m/items.jsonl")" = 6 ] &&
        [ "$(untimed "$T/m_$m/items.jsonl")" = "$(untimed "$T/m_${m}_nc/items.jsonl")" ] && pass ||
        fail "eval --method $m: $(cat "$T/err")"
    img=$(head -n 1 "$Q" | "$PY" -c "import json, sys; print(json.loads(sys.stdin.read())['image'])")
    "$ML_BIN" generate --model "$M" --image "$S/images/$img" --prompt "Is there a cube?" --method $m --max-tokens 4 \
        --json >"$T/gen.json" 2>"$T/err" && "$PY" -c "import json, sys; assert len(json.load(open(sys.argv[1]))['ids']) >= 1" \
        "$T/gen.json" && pass || fail "generate --method $m: $(cat "$T/err")"
done

# the same answers without the prefix cache
ev pope --questions "$Q" --images "$S/images" --out "$T/vcd_nocache" --method vcd --param alpha=0.5 --param noise_step=999 \
    --seed 3 --no-prefix-cache >/dev/null 2>"$T/err" || fail "no-prefix-cache: $(cat "$T/err")"
[ "$(untimed "$T/vcd/items.jsonl")" = "$(untimed "$T/vcd_nocache/items.jsonl")" ] && pass || fail "answers differ without the prefix cache"

# a finished run is left alone when run again
before=$(md5sum <"$T/vcd/items.jsonl")
ev pope --questions "$Q" --images "$S/images" --out "$T/vcd" --method vcd --param alpha=0.5 --param noise_step=999 \
    --seed 3 >/dev/null 2>"$T/err" && [ "$(md5sum <"$T/vcd/items.jsonl")" = "$before" ] && pass || fail "rerun of a finished run: $(cat "$T/err")"

# kill -9 mid-run, resume, compare with an uninterrupted run (scenes: every probe file, descriptions included)
long=(scenes --questions "$S" --method sample --seed 5 --max-tokens-open 200 --threads 1)
ev "${long[@]}" --out "$T/whole" >/dev/null 2>"$T/err" || fail "scenes run: $(cat "$T/err")"
total=$(wc -l <"$T/whole/items.jsonl")
"$ML_BIN" eval "${long[@]}" --model "$M" --quiet --out "$T/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ -f "$T/killed/items.jsonl" ] && [ "$(wc -l <"$T/killed/items.jsonl")" -ge 40 ] && break
    sleep 0.005
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
got=$(wc -l <"$T/killed/items.jsonl")
[ "$got" -lt "$total" ] && [ ! -f "$T/killed/summary.json" ] && pass || fail "the kill came too late ($got of $total lines)"
printf '{"question_id": "pope_random/9' >>"$T/killed/items.jsonl" # and a line torn mid-write
ev "${long[@]}" --out "$T/killed" >/dev/null 2>"$T/err" || fail "resume: $(cat "$T/err")"
grep -q "torn" "$T/err" && pass || fail "the torn line was not reported: $(cat "$T/err")"
[ "$(untimed "$T/whole/items.jsonl")" = "$(untimed "$T/killed/items.jsonl")" ] && pass || fail "resumed run differs from the uninterrupted one"
cmp -s "$T/whole/summary.json" "$T/killed/summary.json" 2>/dev/null
"$PY" -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop('seconds_per_item'); b.pop('seconds_per_item')
assert a == b and a['families']['object']['n'] > 0 and 'describe' in a, a
" "$T/whole/summary.json" "$T/killed/summary.json" 2>"$T/err" && pass || fail "resumed summary differs: $(cat "$T/err")"
"$ML_BIN" score scenes --probes "$S" --answers "$T/whole/items.jsonl" --json >"$T/sc.json" 2>"$T/err" || fail "score scenes: $(cat "$T/err")"
"$PY" -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a['families'] == b['families'] and a['describe'] == b['describe']
" "$T/whole/summary.json" "$T/sc.json" 2>"$T/err" && pass || fail "scenes summary is not the scorer's: $(cat "$T/err")"

# --files and --limit: two probe files, the first 10 questions of each
ev scenes --questions "$S" --files attribute,relation --limit 10 --out "$T/few" >/dev/null 2>"$T/err" || fail "--files: $(cat "$T/err")"
[ "$(wc -l <"$T/few/items.jsonl")" -eq 20 ] && grep -q '"relation/10"' "$T/few/items.jsonl" &&
    ! grep -q pope_random "$T/few/items.jsonl" && pass || fail "--files/--limit picked the wrong questions"

# AMBER: one generative and two discriminative queries on scene pictures, scored by the AMBER scorer
A=data/amber
if [ -f "$A/annotations.json" ]; then
    mkdir -p "$T/amber_img"
    for i in 1 1005 1006; do cp "$S/images/test_00000$((i % 7)).png" "$T/amber_img/AMBER_$i.jpg"; done
    printf '[{"id": 1, "image": "AMBER_1.jpg", "query": "Describe this image."},\n {"id": 1005, "image": "AMBER_1005.jpg", "query": "Is the sky blue?"},\n {"id": 1006, "image": "AMBER_1006.jpg", "query": "Is the man running?"}]\n' >"$T/amber_q.json"
    ev amber --questions "$T/amber_q.json" --images "$T/amber_img" --out "$T/amber" --max-tokens-open 20 >/dev/null 2>"$T/err" || fail "eval amber: $(cat "$T/err")"
    "$ML_BIN" score amber --responses "$T/amber/items.jsonl" --json >"$T/amber_score.json" 2>"$T/err" || fail "score amber: $(cat "$T/err")"
    "$PY" -c "
import json, sys
s, sc = (json.load(open(f)) for f in sys.argv[1:3])
items = [json.loads(l) for l in open(sys.argv[3])]
assert [i['id'] for i in items] == [1, 1005, 1006] and all(i['response'] == i['text'] for i in items)
assert items[0]['label'] is None and items[1]['label'] in ('yes', 'no')
for k in ('CHAIR', 'Cover', 'Hal', 'Cog', 'overall', 'AMBER'): assert s[k] == sc[k], k
assert s['generative'] == 1 and s['discriminative'] == 2
" "$T/amber/summary.json" "$T/amber_score.json" "$T/amber/items.jsonl" 2>"$T/err" && pass || fail "amber summary: $(cat "$T/err")"
else
    fail "missing $A/annotations.json (it ships with the repository)"
fi

# CHAIR: two COCO ids with pictures named as the CHAIR scripts name them
G=data/chair/gt_objects_subset.json
if [ -f "$G" ]; then
    ids=$("$PY" -c "import json; print(' '.join(list(json.load(open('$G')))[:2]))")
    mkdir -p "$T/coco"
    : >"$T/chair_q.jsonl"
    for id in $ids; do
        cp "$S/images/test_000001.png" "$T/coco/$(printf 'COCO_val2014_%012d.jpg' "$id")"
        echo "{\"image_id\": $id}" >>"$T/chair_q.jsonl"
    done
    ev chair --questions "$T/chair_q.jsonl" --images "$T/coco" --gt "$G" --out "$T/chair" --max-tokens-open 24 >/dev/null 2>"$T/err" || fail "eval chair: $(cat "$T/err")"
    "$ML_BIN" score chair --captions "$T/chair/items.jsonl" --id-key question_id --caption-key text --gt "$G" --json >"$T/chair_score.json" 2>"$T/err" || fail "score chair: $(cat "$T/err")"
    "$PY" -c "
import json, sys
s, sc = (json.load(open(f)) for f in sys.argv[1:3])
for k in ('CHAIRs', 'CHAIRi', 'Recall', 'Len', 'captions', 'mentions'): assert s[k] == sc[k], k
assert s['captions'] == 2 and json.loads(open(sys.argv[3]).readline())['prompt'] == 'Please describe this image in detail.'
" "$T/chair/summary.json" "$T/chair_score.json" "$T/chair/items.jsonl" 2>"$T/err" && pass || fail "chair summary: $(cat "$T/err")"
    # the same truth as COCO annotation files (one instance per object, no captions) gives the same figures
    mkdir -p "$T/coco_ann"
    "$PY" - "$G" "$T/coco_ann" $ids <<'PY'
import json, sys
gt = json.load(open(sys.argv[1])); out = sys.argv[2]; ids = sys.argv[3:]
names = sorted({o for i in ids for o in gt[i]})
cats = [{"id": k + 1, "name": n} for k, n in enumerate(names)]
ann = [{"image_id": int(i), "category_id": names.index(o) + 1} for i in ids for o in gt[i]]
json.dump({"images": [{"id": int(i)} for i in ids], "annotations": ann, "categories": cats}, open(out + "/instances_val2014.json", "w"))
json.dump({"annotations": []}, open(out + "/captions_val2014.json", "w"))
PY
    ev chair --questions "$T/chair_q.jsonl" --images "$T/coco" --coco-annotations "$T/coco_ann" --out "$T/chair_coco" --max-tokens-open 24 >/dev/null 2>"$T/err" || fail "eval chair --coco-annotations: $(cat "$T/err")"
    "$PY" -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for k in ('CHAIRs', 'CHAIRi', 'Recall', 'Len', 'captions', 'mentions', 'gt_objects'): assert a[k] == b[k], k
" "$T/chair/summary.json" "$T/chair_coco/summary.json" 2>"$T/err" && pass || fail "chair coco summary: $(cat "$T/err")"
else
    fail "missing $G (it ships with the repository)"
fi

# the runs make a report
ev pope --questions "$Q" --images "$S/images" --out "$T/greedy" >/dev/null 2>"$T/err" || fail "greedy: $(cat "$T/err")"
# dola with relative_top 1 keeps only the top token: the greedy answers
ev pope --questions "$Q" --images "$S/images" --out "$T/dola" --method dola --param relative_top=1 >/dev/null 2>"$T/err" &&
    "$PY" -c "
import json, sys
a = [(d['question_id'], d['text']) for d in map(json.loads, open(sys.argv[1]))]
b = [(d['question_id'], d['text']) for d in map(json.loads, open(sys.argv[2]))]
assert a == b and len(a) > 0" "$T/greedy/items.jsonl" "$T/dola/items.jsonl" &&
    pass || fail "dola: $(cat "$T/err")"
"$ML_BIN" report "$T/greedy" "$T/vcd" --out "$T/report.md" 2>"$T/err" && grep -q "alpha=0.5" "$T/report.md" &&
    grep -q "greedy" "$T/report.md" && pass || fail "report: $(cat "$T/err")"

# bad input: one line naming the file and the problem
expect_fail "no benchmark" "name a benchmark" "$ML_BIN" eval
expect_fail "unknown benchmark" "unknown benchmark 'mme'" "$ML_BIN" eval mme --model "$M"
expect_fail "unknown method" "unknown method 'nosuch'.*greedy, sample, apc, vcd" ev pope --questions "$Q" --images "$S/images" --out "$T/x" --method nosuch
expect_fail "dola layer" "dola: premature_layer 3 does not exist \(the model has layers 0..2\)" ev pope --questions "$Q" --images "$S/images" --out "$T/x" --method dola --param premature_layer=3
expect_fail "unknown param" "method vcd has no parameter 'gamma'" ev pope --questions "$Q" --images "$S/images" --out "$T/x" --method vcd --param gamma=1
expect_fail "param range" "beta must be a number in \[0, 1\]" ev pope --questions "$Q" --images "$S/images" --out "$T/x" --method apc --param beta=2
expect_fail "greedy has no params" "it has none" ev pope --questions "$Q" --images "$S/images" --out "$T/x" --param temperature=1
expect_fail "missing --out" "--out RUNDIR is required" ev pope --questions "$Q" --images "$S/images"
expect_fail "missing images dir" "nowhere/test_000000.png: image not found.*pope_random.jsonl:1" ev pope --questions "$Q" --images "$T/nowhere" --out "$T/x"
printf '{"question_id": 1, "image": "test_000000.png", "text": "Is there a star?", "label": "yes"}\n{"question_id": 2, "image": "test_000000.png", "text": "Is\n' >"$T/broken.jsonl"
expect_fail "unparsable questions" "broken.jsonl:2" ev pope --questions "$T/broken.jsonl" --images "$S/images" --out "$T/x"
printf '{"question_id": 1, "image": "test_000000.png", "text": "Is there a star?", "label": "maybe"}\n' >"$T/label.jsonl"
expect_fail "bad label" "label.jsonl:1: label" ev pope --questions "$T/label.jsonl" --images "$S/images" --out "$T/x"
expect_fail "bad --files" "--files: 'colour' is not a probe file" ev scenes --questions "$S" --files colour --out "$T/x"
expect_fail "chair needs --gt" "chair needs one of --gt F and --coco-annotations DIR" ev chair --questions "$T/chair_q.jsonl" --images "$T/coco" --out "$T/x"
expect_fail "bad model" "config.json" "$ML_BIN" eval pope --model "$T/nomodel" --questions "$Q" --images "$S/images" --out "$T/x"
[ ! -e "$T/x" ] && pass || fail "a failed start created the run directory"
# resuming with other settings is refused, naming the key, and leaves the log alone
before=$(md5sum <"$T/vcd/items.jsonl")
expect_fail "other params" "run.json: this run directory holds a different run \(params" ev pope --questions "$Q" --images "$S/images" --out "$T/vcd" --method vcd --seed 3
expect_fail "other seed" "different run \(seed" ev pope --questions "$Q" --images "$S/images" --out "$T/vcd" --method vcd --param alpha=0.5 --param noise_step=999 --seed 4
[ "$(md5sum <"$T/vcd/items.jsonl")" = "$before" ] && pass || fail "a refused resume changed the log"
# an unreadable picture stops the run with its name; the log keeps only whole lines
mkdir -p "$T/img_bad" && cp "$S"/images/*.png "$T/img_bad/"
printf 'not a picture' >"$T/img_bad/test_000002.png"
expect_fail "unreadable image" "test_000002.png" ev pope --questions "$Q" --images "$T/img_bad" --out "$T/bad_img"
"$PY" -c "
import json, sys
lines = open(sys.argv[1]).read().split('\n')
assert lines[-1] == '' and all(json.loads(l) for l in lines[:-1]) and len(lines) > 1
" "$T/bad_img/items.jsonl" 2>"$T/err" && pass || fail "log after a failed image: $(cat "$T/err")"

cli_summary eval
