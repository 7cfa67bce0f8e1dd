#!/usr/bin/env bash
# CLI tests of `misalign scenes`: bad input, determinism across runs and thread
# counts, the three splits, the contact sheet, and the Python reference check
# (POPE sampling as POPE's code does it, pixel colours read back with Pillow).
source tests/cli_lib.sh
tmp=$ML_TEST_TMP/scenes_cli
rm -rf "$tmp" && mkdir -p "$tmp"
py=/usr/bin/python3

# --help lists every flag
out=$($ML_BIN scenes --help)
missing=""
for flag in --out --n --seed --world --split --threads --contact-sheet --print-world --quiet; do
    grep -q -- "$flag" <<<"$out" || missing="$missing $flag"
done
[ -z "$missing" ] && pass || fail "help lacks:$missing"

# bad input: one line naming the file and the key, exit 1 (2 for bad usage)
printf '{"objects": {"mx": 3}}' >"$tmp/bad_key.json"
expect_fail "unknown key" "bad_key.json: objects.mx: unknown key" $ML_BIN scenes --world "$tmp/bad_key.json" --out "$tmp/x" --n 2
printf '{"objects": {"max": 9}}' >"$tmp/crowded.json"
expect_fail "impossible world" "crowded.json: objects.max: 9 large objects do not fit in a 64 px image" \
    $ML_BIN scenes --world "$tmp/crowded.json" --out "$tmp/x" --n 2
printf '{"image": {"size": "big"}}' >"$tmp/bad_value.json"
expect_fail "invalid value" "bad_value.json: image.size: expected an integer" $ML_BIN scenes --world "$tmp/bad_value.json" --out "$tmp/x"
printf '{"categories": {"heart": {"color": {"red": 1.5}}}}' >"$tmp/bad_prior.json"
expect_fail "bad prior" "bad_prior.json: categories.heart.color.red: 1.5 is outside" \
    $ML_BIN scenes --world "$tmp/bad_prior.json" --out "$tmp/x"
printf '{"objects": {' >"$tmp/truncated.json"
expect_fail "malformed" "truncated.json: malformed JSON" $ML_BIN scenes --world "$tmp/truncated.json" --out "$tmp/x"
expect_fail "missing world" "nope.json" $ML_BIN scenes --world "$tmp/nope.json" --out "$tmp/x"
expect_fail "bad split" "--split: 'dev'" $ML_BIN scenes --split dev --out "$tmp/x"
expect_fail "n zero" "--n: '0'" $ML_BIN scenes --n 0 --out "$tmp/x"
expect_fail "no out" "--out DIR is required" $ML_BIN scenes --n 3
expect_fail "unknown option" "unknown option '--bogus'" $ML_BIN scenes --bogus
printf '{"categories": {"circle": {}, "square": {}, "star": {}, "ring": {}, "moon": {}, "cross": {}, "arrow": {}, "house": {}}}' >"$tmp/no_prior.json"
expect_fail "conflict without priors" "conflict split" $ML_BIN scenes --world "$tmp/no_prior.json" --split conflict --out "$tmp/x" --n 3 --quiet

# the same seed gives the same bytes, whatever the thread count; another seed does not
$ML_BIN scenes --out "$tmp/a" --n 60 --seed 5 --threads 1 --quiet >/dev/null &&
    $ML_BIN scenes --out "$tmp/b" --n 60 --seed 5 --threads 2 --quiet >/dev/null &&
    diff -r "$tmp/a" "$tmp/b" >/dev/null && pass || fail "output differs between --threads 1 and 2"
$ML_BIN scenes --out "$tmp/c" --n 60 --seed 6 --quiet >/dev/null
cmp -s "$tmp/a/scenes.jsonl" "$tmp/c/scenes.jsonl" && fail "seeds 5 and 6 gave the same scenes" || pass

# the summary on stdout is JSON and matches the files
summary=$($ML_BIN scenes --out "$tmp/d" --n 30 --seed 1 --quiet)
$py -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["scenes"] == 30 and s["probes"]["count"][0] == s["probes"]["count"][1]' \
    "$summary" && pass || fail "summary: $summary"

# train split: captions, QA, no probes; images differ from the test split of the same seed
$ML_BIN scenes --out "$tmp/train" --split train --n 60 --seed 5 --quiet >/dev/null
[ "$(wc -l <"$tmp/train/captions.jsonl")" -eq 120 ] && [ "$(wc -l <"$tmp/train/qa.jsonl")" -eq 480 ] &&
    [ ! -d "$tmp/train/probes" ] && pass || fail "train split files"
shared=$( (cd "$tmp/a/images" && md5sum -- *.png; cd "$tmp/train/images" && md5sum -- *.png) | awk '{print $1}' | sort | uniq -d | wc -l)
[ "$shared" -eq 0 ] && pass || fail "train and test share $shared images"

# conflict split: every scene has an object with an atypical attribute
$ML_BIN scenes --out "$tmp/conflict" --split conflict --n 60 --seed 5 --quiet >/dev/null &&
    $py -c '
import json, sys
scenes = [json.loads(l) for l in open(sys.argv[1])]
assert len(scenes) == 60 and all(any(o["atypical"] for o in s["objects"]) for s in scenes)
' "$tmp/conflict/scenes.jsonl" && pass || fail "conflict split"

# contact sheet: 8 x 6 tiles of 64 px enlarged 4x with a 2 px gutter
$ML_BIN scenes --out "$tmp/sheet" --n 48 --seed 2 --quiet --contact-sheet "$tmp/sheet.png" >/dev/null &&
    $py -c 'from PIL import Image; import sys; assert Image.open(sys.argv[1]).size == (8*258+2, 6*258+2)' "$tmp/sheet.png" &&
    pass || fail "contact sheet"

# example worlds all generate
for w in worlds/*.json; do
    $ML_BIN scenes --world "$w" --out "$tmp/world_$(basename "$w" .json)" --n 10 --quiet >/dev/null && pass || fail "world $w"
done

# independent Python check of POPE sampling and pixel colours
$ML_BIN scenes --out "$tmp/big" --n 300 --seed 11 --quiet >/dev/null &&
    $py tests/reference/scene_check.py "$tmp/big" >"$tmp/check.log" 2>&1 && pass || { fail "scene_check.py"; tail -5 "$tmp/check.log"; }

cli_summary scenes
