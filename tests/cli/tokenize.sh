#!/usr/bin/env bash
# tokenize.sh: `misalign tokenize` on the real llava-1.5-7b-hf folder in data/ (no weights needed):
# the prompt ids of LLAVA.md §5 (the no-image variant from tests/reference/hf_tokenizer.py), plain-text
# ids from the llama.cpp vectors, the JSON form, and clear errors for bad input.
. "$(dirname "$0")/../cli_lib.sh"

M=data/llava-1.5-7b-hf
T=$ML_TEST_TMP/tokenize
rm -rf "$T" && mkdir -p "$T" || exit 1
QUESTION="What's the content of the image?"
HEAD="1 3148 1001 29901 29871"
TAIL="29871 13 5618 29915 29879 278 2793 310 278 1967 29973 319 1799 9047 13566 29901"
IMAGE=$(yes 32000 | head -n 576 | tr '\n' ' ' | sed 's/ $//')

# expect_out NAME WANT CMD...: command succeeds and prints exactly WANT.
expect_out() {
    local name=$1 want=$2 got; shift 2
    if ! got=$("$@" 2>"$T/err"); then fail "$name: exit nonzero: $(cat "$T/err")"; return; fi
    if [ "$got" != "$want" ]; then fail "$name: got '${got:0:200}', want '${want:0:200}'"; return; fi
    pass
}

expect_out section5 "$HEAD $IMAGE $TAIL" "$ML_BIN" tokenize --model "$M" --text "$QUESTION" --chat
expect_out section5_v5 "$HEAD $IMAGE ${TAIL#29871 }" \
    "$ML_BIN" tokenize --model "$M" --text "$QUESTION" --chat --drop-space-after-image
expect_out no_image "1 3148 1001 29901 1724 29915 29879 278 2793 310 278 1967 29973 319 1799 9047 13566 29901" \
    "$ML_BIN" tokenize --model "$M" --text "$QUESTION" --chat --no-image
# Plain text: the vector " Hello, world!" is "29871 15043 29892 3186 29991" without BOS.
expect_out plain "1 29871 15043 29892 3186 29991" "$ML_BIN" tokenize --model "$M" --text " Hello, world!"
expect_out no_bos "29871 15043 29892 3186 29991" "$ML_BIN" tokenize --model "$M" --text " Hello, world!" --no-bos
printf 'Hello world' >"$T/text.txt"
expect_out file "1 15043 3186" "$ML_BIN" tokenize --model "$M" --file "$T/text.txt"
expect_out json '{"ids": [1, 15043, 32000], "pieces": ["<s>", "▁Hello", "<image>"]}' \
    "$ML_BIN" tokenize --model "$M" --text "Hello<image>" --json
# --json with --chat: the image_end field is the index after the last image token (5 + 576).
if out=$("$ML_BIN" tokenize --model "$M" --text "$QUESTION" --chat --json) && grep -q '"image_end": 581}$' <<<"$out"; then
    pass
else
    fail "chat json: no image_end 581"
fi

expect_fail missing_model "model DIR is required" "$ML_BIN" tokenize --text x
expect_fail no_text "exactly one of --text" "$ML_BIN" tokenize --model "$M"
expect_fail bad_template "template.*unknown template 'x'" "$ML_BIN" tokenize --model "$M" --text x --template x
expect_fail unknown_flag "unknown option '--frobnicate'" "$ML_BIN" tokenize --model "$M" --text x --frobnicate
expect_fail no_folder "nonexistent/tokenizer.json" "$ML_BIN" tokenize --model "$T/nonexistent" --text x
expect_fail two_images "more than one <image>" "$ML_BIN" tokenize --model "$M" --text "<image> <image>" --chat
expect_fail raw_no_place "no <image>" "$ML_BIN" tokenize --model "$M" --text "plain" --template raw
mkdir -p "$T/bad" && printf '{"model": {"type": "Unigram", "vocab": []}}' >"$T/bad/tokenizer.json"
expect_fail unigram "tokenizer.json: model.type: 'Unigram' is not supported" \
    "$ML_BIN" tokenize --model "$T/bad" --text x
head -c 100000 "$M/tokenizer.json" >"$T/bad/tokenizer.json"
expect_fail truncated "tokenizer.json: malformed JSON" "$ML_BIN" tokenize --model "$T/bad" --text x
cp "$M/tokenizer.json" "$T/bad/tokenizer.json" && printf '{"image_token_index": "x"}' >"$T/bad/config.json"
expect_fail bad_config "config.json" "$ML_BIN" tokenize --model "$T/bad" --text x --chat

cli_summary tokenize.sh
