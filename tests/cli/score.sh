#!/usr/bin/env bash
# CLI tests of `misalign score` and `misalign report`: the official POPE output
# on the cd_rethink answer files, CHAIR/AMBER through the binary, scene probes
# written by `misalign scenes` and answered by an oracle and by "always yes",
# a report over run directories, and bad input (one error line, exit 1 or 2).
source tests/cli_lib.sh
tmp=$ML_TEST_TMP/score_cli
rm -rf "$tmp" && mkdir -p "$tmp"
data=tests/data
py=/usr/bin/python3

# --help lists every flag
out=$($ML_BIN score --help)
missing=""
for flag in --questions --answers --parser --captions --gt --synonyms --id-key --caption-key --responses \
    --annotations --relation --safe-words --queries --probes --coco-annotations --json; do
    grep -q -- "$flag" <<<"$out" || missing="$missing $flag"
done
[ -z "$missing" ] && pass || fail "score help lacks:$missing"
out=$($ML_BIN report --help)
grep -q -- "--out" <<<"$out" && grep -q -- "--title" <<<"$out" && pass || fail "report help"

# POPE: evaluate.py's printout, numbers as Python prints them (expected_metrics.json)
q=$data/cd_rethink/data/coco/coco_pope_adversarial.json
a=$data/cd_rethink/outputs/pope/baseline/llava-7b-coco-adversarial-greedy.jsonl
want=$(printf 'TP\tFP\tTN\tFN\t\n1148\t148\t1352\t352\nAccuracy: 0.8333333333333334\nPrecision: 0.8858024691358025\nRecall: 0.7653333333333333\nF1 score: 0.8211731044349071\nYes ratio: 0.432')
got=$($ML_BIN score pope --questions "$q" --answers "$a")
[ "$got" = "$want" ] && pass || fail "pope adversarial printout: $got"
for p in official opera vcd; do
    j=$($ML_BIN score pope --questions "$q" --answers "$a" --parser $p --json)
    $py -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if (d["TP"],d["FP"],d["TN"],d["FN"])==(1148,148,1352,352) and d["parser"]==sys.argv[2] else 1)' "$j" $p && pass || fail "pope --json $p"
done

# CHAIR on an OPERA log, AMBER on responses built from the annotations
out=$($ML_BIN score chair --captions "$data/OPERA/log/chair_eval_results/llava-1.5/greedy.jsonl" \
    --gt data/chair/gt_objects_subset.json --synonyms data/chair/synonyms.txt --json)
$py -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["captions"]==500 and 0<d["CHAIRi"]<d["CHAIRs"]<1 else 1)' "$out" \
    && pass || fail "chair: $out"
# CHAIR from COCO-format annotation files equals CHAIR from the same truth in the derived format.
# By hand (chair.py's rules): image 1 = segments {dog} + "a man walk his dog ." {person, dog};
# image 2 = segments {dining table} + "hot dog on a table ." {hot dog, dining table}.
# Captions: 1 "a dog and a cat ." (6 tokens; cat hallucinated), 2 "a hot dog on a dining table ." (7 tokens).
# CHAIRs 1/2, CHAIRi 1/4, Recall (1 + 2)/(2 + 2), Len 13/2.
mkdir -p "$tmp/coco"
printf '{"info": {}, "images": [{"id": 1}, {"id": 2}], "annotations": [{"image_id": 1, "category_id": 18, "bbox": [1, 2, 3, 4]},
 {"image_id": 2, "category_id": 67}], "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"},
 {"id": 67, "name": "dining table"}]}' >"$tmp/coco/instances_val2014.json"
printf '{"images": [], "annotations": [{"image_id": 1, "id": 9, "caption": "A man walks his dogs."},
 {"image_id": 2, "id": 10, "caption": "Hot dogs on a table."}]}' >"$tmp/coco/captions_val2014.json"
printf '{"1": ["dog", "person"], "2": ["hot dog", "dining table"]}' >"$tmp/derived.json"
printf '{"image_id": 1, "caption": "A dog and a cat."}\n{"image_id": 2, "caption": "A hot dog on a dining table."}\n' >"$tmp/caps.jsonl"
syn=data/chair/synonyms.txt
a1=$($ML_BIN score chair --captions "$tmp/caps.jsonl" --coco-annotations "$tmp/coco" --synonyms "$syn" --json 2>/dev/null)
a2=$($ML_BIN score chair --captions "$tmp/caps.jsonl" --gt "$tmp/derived.json" --synonyms "$syn" --json)
[ -n "$a1" ] && [ "$a1" = "$a2" ] && pass || fail "chair coco vs derived: $a1 / $a2"
$py -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if (d["CHAIRs"],d["CHAIRi"],d["Recall"],d["Len"])==(0.5,0.25,0.75,6.5) else 1)' "$a1" \
    && pass || fail "chair coco figures: $a1"
mkdir -p "$tmp/coco_bad" && cp "$tmp/coco/instances_val2014.json" "$tmp/coco_bad/"
# the stdlib reference of chair.py's truth building gives the same sets, and so the same figures
$py tests/reference/chair_coco_gt.py "$syn" "$tmp/coco" >"$tmp/ref_gt.json" \
    && $py -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); sys.exit(0 if {k:set(v) for k,v in a.items()}=={k:set(v) for k,v in b.items()} else 1)' "$tmp/ref_gt.json" "$tmp/derived.json" \
    && pass || fail "chair reference truth: $(cat "$tmp/ref_gt.json")"
a3=$($ML_BIN score chair --captions "$tmp/caps.jsonl" --gt "$tmp/ref_gt.json" --synonyms "$syn" --json)
[ "$a1" = "$a3" ] && pass || fail "chair coco vs reference: $a1 / $a3"
expect_fail "coco missing captions" "coco_bad/captions_val2014.json: cannot open" $ML_BIN score chair --captions "$tmp/caps.jsonl" --coco-annotations "$tmp/coco_bad" --synonyms "$syn"
cp "$tmp/coco/captions_val2014.json" "$tmp/coco_bad/"
printf '{"annotations": [], "categories": [{"id": 3, "name": "spaceship"}]}' >"$tmp/coco_bad/instances_val2014.json"
expect_fail "coco unknown category" "instances_val2014.json: category \"spaceship\" is not in the CHAIR synonym list" \
    $ML_BIN score chair --captions "$tmp/caps.jsonl" --coco-annotations "$tmp/coco_bad" --synonyms "$syn"
printf '{"annotations": [{"image_id": 1, "category_id": 18}' >"$tmp/coco_bad/instances_val2014.json"
expect_fail "coco torn" "instances_val2014.json: byte [0-9]+: " $ML_BIN score chair --captions "$tmp/caps.jsonl" --coco-annotations "$tmp/coco_bad" --synonyms "$syn"

# HallusionBench on the shipped file (small hand-derived sets are in tests/test_eval_hallusionbench.c):
# answering gt_answer makes every question, pair and figure right; the opposite label makes all wrong;
# "unsure" everywhere is right exactly on the VS questions without a figure, which fAcc leaves out.
hb=data/hallusionbench/HallusionBench.json
$py - "$hb" "$tmp/hb.jsonl" <<'PY'
import json, sys
qs = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for q in qs:
        k = "_".join([q["category"], q["subcategory"], q["set_id"], q["figure_id"], q["question_id"]])
        f.write(json.dumps({"id": k, "answer": "Yes." if q["gt_answer"] == "1" else "No."}) + "\n")
PY
out=$($ML_BIN score hallusionbench --answers "$tmp/hb.jsonl" --json)
$py -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if (d["qAcc"],d["fAcc"],d["aAcc"],d["questions"],d["question_pairs"],d["figures"])==(100,100,100,1129,455,346) else 1)' "$out" \
    && pass || fail "hallusionbench all right: $out"
# every answer flipped to the wrong label: nothing is right (no unclear answers)
sed -e 's/"Yes\."/"TMP"/; s/"No\."/"Yes."/; s/"TMP"/"No."/' "$tmp/hb.jsonl" >"$tmp/hb_wrong.jsonl"
out=$($ML_BIN score hallusionbench --answers "$tmp/hb_wrong.jsonl" --json)
$py -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if (d["qAcc"],d["fAcc"],d["aAcc"],d["unclear"])==(0,0,0,0) else 1)' "$out" \
    && pass || fail "hallusionbench all wrong: $out"
# "unsure" everywhere: right only on the VS questions without a figure (178 of 1129 by the file's counts)
sed -e 's/"Yes\."/"unsure"/; s/"No\."/"unsure"/' "$tmp/hb.jsonl" >"$tmp/hb_unsure.jsonl"
out=$($ML_BIN score hallusionbench --answers "$tmp/hb_unsure.jsonl" --json)
$py - "$out" "$hb" <<'PY' && pass || fail "hallusionbench unsure: $out"
import json, sys
d = json.loads(sys.argv[1]); qs = json.load(open(sys.argv[2]))
n0 = sum(1 for q in qs if q["category"] == "VS" and q["figure_id"] == "0")
assert n0 == 178 and d["aAcc"] == round(100 * n0 / 1129, 4) and d["fAcc"] == 0 and d["unclear"] == 1129
PY
$ML_BIN score hallusionbench --answers "$tmp/hb.jsonl" | grep -qE "^Overall +100\.0000 +100\.0000" && pass || fail "hallusionbench text"
head -n 5 "$tmp/hb.jsonl" >"$tmp/hb_short.jsonl"
expect_fail "hallusionbench missing" "hb_short.jsonl: no answer for .* \(1124 questions of .* unanswered\)" $ML_BIN score hallusionbench --answers "$tmp/hb_short.jsonl"
{ cat "$tmp/hb.jsonl"; head -n 1 "$tmp/hb.jsonl"; } >"$tmp/hb_dup.jsonl"
expect_fail "hallusionbench duplicate" "hb_dup.jsonl:1130: .* answered twice \(first on line 1\)" $ML_BIN score hallusionbench --answers "$tmp/hb_dup.jsonl"
printf '{"id": "VD_nothing_9_9_9", "answer": "yes"}\n' >"$tmp/hb_unknown.jsonl"
expect_fail "hallusionbench unknown id" "hb_unknown.jsonl:1: VD_nothing_9_9_9 is not a question of" $ML_BIN score hallusionbench --answers "$tmp/hb_unknown.jsonl"
printf '[{"category": "VD"}]' >"$tmp/hb_q.json"
expect_fail "hallusionbench bad questions" "hb_q.json:1: no \"subcategory\"" $ML_BIN score hallusionbench --answers "$tmp/hb.jsonl" --questions "$tmp/hb_q.json"
expect_fail "hallusionbench no answers" "--answers is required" $ML_BIN score hallusionbench

printf '[{"id": 1005, "response": "Yes"}, {"id": 1006, "response": "Yes"}, {"id": 1, "response": "A dog on the grass."}]' >"$tmp/amber.json"
out=$($ML_BIN score amber --responses "$tmp/amber.json" --annotations data/amber/annotations.json)
# 1005 yes/Yes right, 1006 no/Yes wrong: Acc 1/2.001; id 1: dog hallucinated, grass covered
grep -q "^Accuracy:.*50.0" <<<"$out" && grep -q "^CHAIR:.*50.0" <<<"$out" && grep -q "^Cover:.*14.3" <<<"$out" \
    && pass || fail "amber: $out"

# the defaults (--synonyms, --annotations) are found from the binary's place, not the working directory;
# a binary with no data/ above it names the path it tried and the flag that overrides it
out=$(cd "$tmp" && $ML_BIN score amber --responses amber.json 2>&1)
grep -q "^Accuracy:.*50.0" <<<"$out" && grep -q "^Cover:.*14.3" <<<"$out" && pass || fail "amber default from elsewhere: $out"
out=$(cd "$tmp" && $ML_BIN score chair --captions "$OLDPWD/$data/OPERA/log/chair_eval_results/llava-1.5/greedy.jsonl" \
    --gt "$OLDPWD/data/chair/gt_objects_subset.json" --json 2>&1)
grep -q '"captions":[[:space:]]*500' <<<"$out" && pass || fail "chair default from elsewhere: $out"
mkdir -p "$tmp/alone/bin" && cp "$ML_BIN" "$tmp/alone/bin/misalign"
expect_fail "no data beside the binary" "--synonyms: default file $tmp/alone/data/chair/synonyms.txt: No such file or directory; pass --synonyms FILE" \
    "$tmp/alone/bin/misalign" score chair --captions "$tmp/amber.json" --gt data/chair/gt_objects_subset.json
expect_fail "no annotations beside the binary" "--annotations: default file $tmp/alone/data/amber/annotations.json: No such file" \
    "$tmp/alone/bin/misalign" score amber --responses "$tmp/amber.json"

# scene probes from `misalign scenes`: an oracle gets 100 %, "always yes" 50 % with yes-ratio 100 %
$ML_BIN scenes --out "$tmp/split" --n 40 --seed 3 --quiet >/dev/null || fail "scenes generator"
$py - "$tmp/split" "$tmp" <<'EOF'
import glob, json, os, sys
split, out = sys.argv[1], sys.argv[2]
with open(os.path.join(out, "oracle.jsonl"), "w") as o, open(os.path.join(out, "yes.jsonl"), "w") as y:
    for f in sorted(glob.glob(os.path.join(split, "probes", "*.jsonl"))):
        name = os.path.basename(f)[:-6]
        for line in open(f):
            r = json.loads(line)
            qid = "%s/%d" % (name, r["question_id"])
            if name == "describe":  # true sentences only: every object, then every relation that holds
                objs = r["truth"]["objects"]
                np_ = lambda o: "%s %s %s %s" % (o["size"], o["color"], o["texture"], o["category"])
                text = " ".join("There is a %s." % np_(o) for o in objs)
                text += " " + " ".join("The %s is %s the %s." % (np_(objs[a]), rel, np_(objs[b]))
                                       for a, rel, b in r["truth"]["relations"])
                o.write(json.dumps({"question_id": qid, "text": text}) + "\n")
                continue
            o.write(json.dumps({"question_id": qid, "text": "Yes" if r["label"] == "yes" else "No"}) + "\n")
            y.write(json.dumps({"question_id": qid, "text": "Yes"}) + "\n")
EOF
j=$($ML_BIN score scenes --probes "$tmp/split" --answers "$tmp/oracle.jsonl" --json)
$py -c 'import json,sys; d=json.loads(sys.argv[1])["families"]; sys.exit(0 if set(d)=={"object","attribute","relation","count"} and all(v["accuracy"]==1 for v in d.values()) else 1)' "$j" \
    && pass || fail "scenes oracle"
$py -c 'import json,sys; d=json.loads(sys.argv[1])["describe"]; sys.exit(0 if d["n"]==40 and all(d[k]["claims"]>0 and d[k]["errors"]==0 for k in ("object","attribute","relation")) else 1)' "$j" \
    && pass || fail "scenes oracle descriptions: $j"
j=$($ML_BIN score scenes --probes "$tmp/split" --answers "$tmp/yes.jsonl" --json)
$py -c 'import json,sys; d=json.loads(sys.argv[1])["families"]; sys.exit(0 if all(v["accuracy"]==0.5 and v["yes_ratio"]==1 and v["fp_severity_weighted"]==1 for v in d.values()) else 1)' "$j" \
    && pass || fail "scenes always-yes"
head -n 5 "$tmp/oracle.jsonl" >"$tmp/partial.jsonl"
expect_fail "scenes partial" "partial.jsonl: no answer for attribute/6 \\(" \
    $ML_BIN score scenes --probes "$tmp/split" --answers "$tmp/partial.jsonl"

# report: run directories with summaries from the scorer
for s in random popular adversarial; do
    mkdir -p "$tmp/run_$s"
    printf '{"benchmark": "pope", "split": "%s", "method": "greedy", "params": {}}\n' $s >"$tmp/run_$s/run.json"
    $ML_BIN score pope --questions "$data/cd_rethink/data/coco/coco_pope_$s.json" \
        --answers "$data/cd_rethink/outputs/pope/baseline/llava-7b-coco-$s-greedy.jsonl" --json >"$tmp/run_$s/summary.json"
done
$ML_BIN report "$tmp/run_adversarial" "$tmp/run_random" "$tmp/run_popular" --out "$tmp/r.md" &&
    grep -q "| greedy | defaults | 87.0 / 96.6 / 76.7 / 85.5 | 85.9 / 94.0 / 76.7 / 84.5 | 83.3 / 88.6 / 76.5 / 82.1 | 39.7 / 40.8 / 43.2 | – |" "$tmp/r.md" \
    && pass || fail "report table: $(grep greedy "$tmp/r.md" | head -1)"
$ML_BIN report "$tmp/run_random" --out "$tmp/r.html" && grep -q "<table>" "$tmp/r.html" && pass || fail "report html"

# bad input
expect_fail "unknown benchmark" "unknown benchmark 'mme'" $ML_BIN score mme --answers x
expect_fail "unknown parser" "--parser: 'llava' is not official, opera or vcd" $ML_BIN score pope --questions "$q" --answers "$a" --parser llava
expect_fail "no answers flag" "--answers is required" $ML_BIN score pope --questions "$q"
expect_fail "unknown option" "unknown option '--bogus'" $ML_BIN score pope --bogus
head -n 2999 "$a" >"$tmp/short.jsonl"
expect_fail "missing answer" "short.jsonl: no answer for question_id 3000" $ML_BIN score pope --questions "$q" --answers "$tmp/short.jsonl"
{ cat "$a"; tail -n 1 "$a"; } >"$tmp/dup.jsonl"
expect_fail "duplicate answer" "dup.jsonl:3001: question_id 3000 answered twice" $ML_BIN score pope --questions "$q" --answers "$tmp/dup.jsonl"
{ head -n 10 "$a"; echo '{"question_id": 11, "text": '; } >"$tmp/torn.jsonl"
expect_fail "malformed line" "torn.jsonl:11: malformed JSON" $ML_BIN score pope --questions "$q" --answers "$tmp/torn.jsonl"
expect_fail "missing file" "nope.jsonl: cannot open" $ML_BIN score pope --questions "$q" --answers "$tmp/nope.jsonl"
expect_fail "chair without gt" "give one of --gt F and --coco-annotations DIR" $ML_BIN score chair --captions x
expect_fail "chair with both" "give one of --gt F and --coco-annotations DIR" $ML_BIN score chair --captions x --gt y --coco-annotations z
expect_fail "chair bad synonyms" "nope.txt: cannot open" $ML_BIN score chair --captions x --gt y --synonyms "$tmp/nope.txt"
expect_fail "report format" "--out: 'r.txt' must end in .md or .html" $ML_BIN report "$tmp/run_random" --out r.txt
expect_fail "report no summary" "summary.json: cannot open" $ML_BIN report "$tmp" --out "$tmp/x.md"
cli_summary score.sh
