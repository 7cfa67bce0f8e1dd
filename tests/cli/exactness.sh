#!/usr/bin/env bash
# exactness.sh: `misalign generate` against the independent NumPy reference (tests/reference/llava_ref.py)
# on tiny random checkpoints in f32, f16 and bf16 and on a config variant ("full" features from the last
# vision layer): with an image (resize and pad; PNG and JPEG) and without. Passes when max |dlogit| <= 1e-3, image
# features agree within 1e-4 and the 8 greedy tokens are identical. Then proves the comparison can fail:
# the engine run on a copy with one perturbed weight must disagree with the reference on the original.
# See docs/exactness.md.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy + Pillow
REF=tests/reference/llava_ref.py
TOOLS=tests/reference/exactness_tools.py
LOGIT_TOL=1e-3
LOGIT_TOL_JPEG=1e-4
FEATURE_TOL_JPEG=1e-6
FEATURE_TOL=1e-4
N_TOKENS=8
PROMPT="What is in this picture? Describe it briefly."
T=$ML_TEST_TMP/exactness
rm -rf "$T" && mkdir -p "$T" || exit 1

# run_case NAME ENGINE_MODEL REFERENCE_MODEL IMAGE|- ASPECT [REFERENCE_IMAGE]
# Runs the engine (prefill-only dump, then greedy generation) and the reference, compares them, prints
# one line. Returns the compare bitmask (0 equal; 1 logits, 2 features, 4 tokens differ) or 8 when
# something did not run.
run_case() {
    local name=$1 model=$2 ref_model=$3 image=$4 aspect=$5 ref_image=${6:-$4}
    local d=$T/$name gen=() dump=() ref=()
    mkdir -p "$d"
    gen=(--model "$model" --prompt "$PROMPT")
    if [ "$image" != - ]; then
        gen+=(--image "$image" --image-aspect "$aspect")
        dump=(--dump-image-features "$d/engine_features.npy")
        ref=(--image "$ref_image" --image-aspect "$aspect" --image-features "$d/ref_features.npy")
    fi
    if ! "$ML_BIN" generate "${gen[@]}" --max-tokens 0 --dump-logits "$d/engine_logits.npy" "${dump[@]}" \
        >"$d/prefill.out" 2>&1; then
        echo "  $name: generate --max-tokens 0: $(tail -n 1 "$d/prefill.out")"
        return 8
    fi
    if ! "$ML_BIN" generate "${gen[@]}" --max-tokens $N_TOKENS --json >"$d/engine.json" 2>"$d/engine.err"; then
        echo "  $name: generate --json: $(tail -n 1 "$d/engine.err")"
        return 8
    fi
    local ids
    ids=$($PY $TOOLS prompt-ids "$d/engine.json") || { echo "  $name: no prompt_ids in engine.json"; return 8; }
    if ! $PY $REF --model "$ref_model" --ids "$ids" "${ref[@]}" --max-tokens $N_TOKENS \
        --logits "$d/ref_logits.npy" >"$d/ref.json" 2>"$d/ref.err"; then
        echo "  $name: reference: $(tail -n 1 "$d/ref.err")"
        return 8
    fi
    local line rc
    line=$($PY $TOOLS compare "$d" "$LOGIT_TOL" "$FEATURE_TOL" 2>&1)
    rc=$?
    printf '  %-16s %s\n' "$name" "$line"
    return $rc
}

# expect_equal NAME ...: run_case must find engine and reference equal.
expect_equal() {
    local name=$1
    run_case "$@"
    local rc=$?
    if [ $rc -eq 0 ]; then pass; else fail "$name: engine and reference differ (code $rc, see $T/$name)"; fi
}

# expect_differ NAME BITS ...: run_case must run and report at least the mismatches in BITS.
expect_differ() {
    local name=$1 bits=$2
    shift 2
    run_case "$name" "$@"
    local rc=$?
    if [ $rc -ne 8 ] && [ $((rc & bits)) -eq "$bits" ]; then pass; else
        fail "$name: a perturbation went unnoticed (code $rc, expected bits $bits)"
    fi
}

# Test pictures: wider than tall and taller than wide, so resize, crop and pad all matter.
$PY $TOOLS image "$T/wide.png" 57 41 1 || exit 1
$PY $TOOLS image "$T/tall.png" 30 47 2 || exit 1
# JPEGs, which the reference decodes with Pillow (libjpeg-turbo): 4:2:0, progressive 4:4:4, 4:2:2, CMYK.
$PY $TOOLS image "$T/noisy420.jpg" 90 50 3 92 2 || exit 1
$PY $TOOLS image "$T/tall444p.jpg" 41 67 4 85 0 progressive || exit 1
$PY $TOOLS image "$T/wide422.jpg" 77 40 5 60 1 || exit 1
$PY $TOOLS image "$T/cmyk.jpg" 45 45 6 90 2 cmyk || exit 1

for dtype in f32 f16 bf16; do
    if ! "$ML_BIN" init-model --out "$T/tiny-$dtype" --preset tiny --dtype $dtype --seed 11 >/dev/null 2>"$T/init.err"; then
        fail "init-model --dtype $dtype: $(tail -n 1 "$T/init.err")"
        continue
    fi
    m=$T/tiny-$dtype
    expect_equal "$dtype-resize" "$m" "$m" "$T/wide.png" resize
    expect_equal "$dtype-pad" "$m" "$m" "$T/tall.png" pad
    expect_equal "$dtype-text" "$m" "$m" - resize
done

# JPEG inputs (f32), held to tighter tolerances than the PNG cases need: 1e-4 on logits as the issue
# asks, and 1e-6 on image features, which a decoder 1-2 levels off on 1% of the samples (as stb_image
# was) exceeds: the last case proves it, the reference reading such a jittered copy of the JPEG.
if [ -d "$T/tiny-f32" ]; then
    m=$T/tiny-f32
    tols="$LOGIT_TOL $FEATURE_TOL"
    LOGIT_TOL=$LOGIT_TOL_JPEG FEATURE_TOL=$FEATURE_TOL_JPEG
    expect_equal jpeg-420-resize "$m" "$m" "$T/noisy420.jpg" resize
    expect_equal jpeg-420-pad "$m" "$m" "$T/noisy420.jpg" pad
    expect_equal jpeg-444p-resize "$m" "$m" "$T/tall444p.jpg" resize
    expect_equal jpeg-422-pad "$m" "$m" "$T/wide422.jpg" pad
    expect_equal jpeg-cmyk-resize "$m" "$m" "$T/cmyk.jpg" resize
    $PY $TOOLS jitter "$T/noisy420.jpg" "$T/noisy420_jitter.png" 1
    expect_differ jpeg-jittered 2 "$m" "$m" "$T/noisy420.jpg" resize "$T/noisy420_jitter.png"
    read -r LOGIT_TOL FEATURE_TOL <<<"$tols"
fi

# Variant: CLS kept ("full") from the last vision layer (the prompt then holds one more image token),
# another RoPE base, and rms_norm_eps left to the LlamaConfig default (1e-6).
if [ -d "$T/tiny-f32" ]; then
    cp -r "$T/tiny-f32" "$T/tiny-full"
    tokens=$($PY -c "import json; c=json.load(open('$T/tiny-f32/config.json')); v=c['vision_config']; print((v['image_size']//v['patch_size'])**2+1)")
    $PY $TOOLS edit-config "$T/tiny-full" 'vision_feature_select_strategy="full"' vision_feature_layer=-1 \
        image_seq_length="$tokens" text_config.rope_theta=1000 -text_config.rms_norm_eps
    expect_equal full-lastlayer "$T/tiny-full" "$T/tiny-full" "$T/wide.png" resize
    expect_equal full-pad "$T/tiny-full" "$T/tiny-full" "$T/tall.png" pad

    # Sanity: one changed weight in a copy must make the engine disagree with the reference on the original.
    $PY $TOOLS perturb "$T/tiny-f32" "$T/tiny-text-perturbed" language_model.model.norm.weight 5 0.5
    expect_differ perturbed-text 1 "$T/tiny-text-perturbed" "$T/tiny-f32" - resize
    $PY $TOOLS perturb "$T/tiny-f32" "$T/tiny-vision-perturbed" vision_tower.vision_model.encoder.layers.0.mlp.fc2.bias 3 0.25
    expect_differ perturbed-vision 2 "$T/tiny-vision-perturbed" "$T/tiny-f32" "$T/wide.png" resize
    # ... while engine and reference agree on the perturbed copy itself.
    expect_equal perturbed-both "$T/tiny-vision-perturbed" "$T/tiny-vision-perturbed" "$T/wide.png" resize
fi

cli_summary exactness
