#!/usr/bin/env bash
# CLI tests of `misalign train-tokenizer`: the hand-worked "aaab" corpus read back
# through `misalign tokenize` (the engine's tokenizer), a scene-generator corpus
# (JSONL, --keys), byte-identical reruns, the summary line, and clear errors.
. "$(dirname "$0")/../cli_lib.sh"
T=$ML_TEST_TMP/train_tokenizer
rm -rf "$T" && mkdir -p "$T/aaab" "$T/scenes_tok" || exit 1
py=/usr/bin/python3

out=$("$ML_BIN" train-tokenizer --help)
missing=""
for flag in --corpus --vocab-size --out --min-frequency --character-coverage --max-piece-length --keys \
    --position-words --quiet; do
    grep -q -- "$flag" <<<"$out" || missing="$missing $flag"
done
[ -z "$missing" ] && pass || fail "help lacks:$missing"

# "aaab" x5: merges (a,a) (a,b) (aa,ab) (▁,aaab), so "aaab" is the single piece 262 (see test_train_bpe.c).
for i in 1 2 3 4 5; do echo aaab; done >"$T/aaab.txt"
if "$ML_BIN" train-tokenizer --corpus "$T/aaab.txt" --vocab-size 300 --out "$T/aaab/tokenizer.json" --quiet >"$T/aaab.out"; then
    got=$("$ML_BIN" tokenize --model "$T/aaab" --text aaab)
    [ "$got" = "1 262" ] && pass || fail "aaab: tokenize gave '$got', want '1 262'"
    got=$("$ML_BIN" tokenize --model "$T/aaab" --text "aaab<image>" --no-bos)
    [ "$got" = "262 266" ] && pass || fail "aaab: <image> is '$got', want '262 266'"
    $py -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["vocab_size"]==266 and s["ids"]==268 and s["merges"]==4 and s["characters"]==3, s' \
        "$T/aaab.out" && pass || fail "aaab: summary $(cat "$T/aaab.out")"
else
    fail "aaab: train-tokenizer failed"
fi
# --position-words 2: <x0> <x1> <y0> <y1> follow <image> and <pad> as special tokens (ids 268..271)
mkdir -p "$T/aaab_pos"
if "$ML_BIN" train-tokenizer --corpus "$T/aaab.txt" --vocab-size 300 --out "$T/aaab_pos/tokenizer.json" \
    --position-words 2 --quiet >"$T/aaab_pos.out"; then
    got=$("$ML_BIN" tokenize --model "$T/aaab_pos" --text "aaab<x0><y1>" --no-bos)
    [ "$got" = "262 268 271" ] && pass || fail "position words: tokenize gave '$got', want '262 268 271'"
    $py -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["ids"]==272, s' "$T/aaab_pos.out" && pass ||
        fail "position words: summary $(cat "$T/aaab_pos.out")"
else
    fail "position words: train-tokenizer failed"
fi
"$ML_BIN" train-tokenizer --corpus "$T/aaab.txt" --vocab-size 300 --out "$T/x.json" --position-words 33 \
    --quiet 2>"$T/err" && fail "--position-words 33 accepted" || pass

# A corpus from the scene generator: captions and QA text only (not image names).
if "$ML_BIN" scenes --split train --n 40 --seed 3 --out "$T/corpus" --quiet >/dev/null; then
    run() { "$ML_BIN" train-tokenizer --corpus "$T/corpus/captions.jsonl" "$T/corpus/qa.jsonl" \
        --keys caption,question,answer --vocab-size 420 --out "$1" --quiet; }
    if run "$T/scenes_tok/tokenizer.json" >"$T/scenes.out" && run "$T/again.json" >/dev/null; then
        cmp -s "$T/scenes_tok/tokenizer.json" "$T/again.json" && pass || fail "scenes: reruns differ"
        # No piece comes from the image names; <image> follows the learned vocab.
        $py - "$T/scenes_tok/tokenizer.json" "$T/scenes.out" <<'PY' && pass || fail "scenes: vocab check"
import json, sys
tok = json.load(open(sys.argv[1])); summary = json.load(open(sys.argv[2]))
vocab = tok["model"]["vocab"]
assert not any("png" in p or "train_" in p for p in vocab), "image names leaked into the vocab"
assert summary["vocab_size"] == len(vocab) <= 420
assert [t["id"] for t in tok["added_tokens"] if t["content"] == "<image>"] == [len(vocab)]
PY
        # A frequent question: each of its 7 words is one piece.
        ids=$("$ML_BIN" tokenize --model "$T/scenes_tok" --text "Is there a circle in the image?" --no-bos)
        n=$(wc -w <<<"$ids")
        [ "$n" -eq 7 ] && pass || fail "scenes: question took $n tokens: $ids"
    else
        fail "scenes: train-tokenizer failed"
    fi
else
    fail "scenes: generator failed"
fi

expect_fail no_corpus "--corpus FILE... is required" "$ML_BIN" train-tokenizer --vocab-size 300 --out "$T/x.json"
expect_fail no_vocab "--vocab-size N is required" "$ML_BIN" train-tokenizer --corpus "$T/aaab.txt" --out "$T/x.json"
expect_fail no_out "--out FILE is required" "$ML_BIN" train-tokenizer --corpus "$T/aaab.txt" --vocab-size 300
expect_fail empty_corpus_list "--corpus needs at least one file" "$ML_BIN" train-tokenizer --corpus --vocab-size 300
expect_fail small_vocab "--vocab-size" "$ML_BIN" train-tokenizer --corpus "$T/aaab.txt" --vocab-size 100 --out "$T/x.json"
expect_fail unknown_flag "unknown option '--frobnicate'" "$ML_BIN" train-tokenizer --frobnicate
expect_fail missing_file "nonexistent.txt" "$ML_BIN" train-tokenizer --corpus "$T/nonexistent.txt" --vocab-size 300 --out "$T/x.json"
printf '{"a": "ok"}\n{"a": \n' >"$T/bad.jsonl"
expect_fail bad_jsonl "bad.jsonl: line 2: malformed JSON" \
    "$ML_BIN" train-tokenizer --corpus "$T/bad.jsonl" --vocab-size 300 --out "$T/x.json"
printf 'abcdefghijklmnopqrstuvwxyz\n' >"$T/letters.txt"
expect_fail alphabet_too_big "need at least 286" \
    "$ML_BIN" train-tokenizer --corpus "$T/letters.txt" --vocab-size 270 --out "$T/x.json"
: >"$T/empty.txt"
expect_fail empty "no text" "$ML_BIN" train-tokenizer --corpus "$T/empty.txt" --vocab-size 300 --out "$T/x.json"
[ ! -e "$T/x.json" ] && pass || fail "a failed run left $T/x.json"

cli_summary train_tokenizer.sh
