#!/usr/bin/env bash
# explain.sh: `misalign explain` on a tiny random checkpoint.  The JSON's invariants (attention shares in
# [0, 1] adding up to 1 per head and per layer, one logit-lens row per layer -1..L-1, contributions that are
# differences of the log-probabilities shown); against an independent path, `misalign generate`: the greedy
# answer is generate's, and log p of its first token with and without the image is NumPy's log-softmax of
# generate's --dump-logits; --no-lens-norm changes the lens; the batch form over a scenes probe file gives, per
# line, what the single form gives; bad input gives one line naming the file (and line), never a crash.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy, PIL
T=$ML_TEST_TMP/explain
rm -rf "$T" && mkdir -p "$T" || exit 1
M=$T/tiny
"$ML_BIN" init-model --out "$M" --preset tiny --seed 9 >/dev/null 2>"$T/err" &&
    "$ML_BIN" scenes --out "$T/sc" --n 2 --seed 4 --split test --quiet >/dev/null 2>>"$T/err" ||
    { fail "setup: $(cat "$T/err")"; cli_summary explain; exit 1; }
IMG=$T/sc/images/test_000000.png
Q="Is there a red star in the image?"

ex() { "$ML_BIN" explain --model "$M" "$@"; }
gen() { "$ML_BIN" generate --model "$M" "$@"; }

ex --image "$IMG" --prompt "$Q" --max-tokens 5 --json >"$T/e.json" 2>"$T/err" || fail "explain --json: $(cat "$T/err")"
ex --image "$IMG" --prompt "$Q" --max-tokens 5 --json --no-lens-norm >"$T/raw.json" 2>"$T/err" || fail "--no-lens-norm: $(cat "$T/err")"
gen --image "$IMG" --prompt "$Q" --max-tokens 5 --json >"$T/g.json" 2>"$T/err" || fail "generate: $(cat "$T/err")"
gen --image "$IMG" --prompt "$Q" --max-tokens 0 --dump-logits "$T/img.npy" >/dev/null 2>"$T/err" || fail "generate logits: $(cat "$T/err")"
gen --prompt "$Q" --max-tokens 0 --dump-logits "$T/noimg.npy" >/dev/null 2>"$T/err" || fail "generate no image: $(cat "$T/err")"

check=$("$PY" - "$T" <<'EOF' 2>&1
import json, sys
import numpy as np
T = sys.argv[1]
e, raw, g = (json.load(open(f"{T}/{n}.json")) for n in ("e", "raw", "g"))
cfg = json.load(open(f"{T}/tiny/config.json"))["text_config"]
L, H = cfg["num_hidden_layers"], cfg["num_attention_heads"]
bad = []
def near(a, b, tol, what):
    if abs(a - b) > tol: bad.append(f"{what}: {a} vs {b}")
# attention: shares in [0, 1] adding up to 1, per head and as head means
if [r["layer"] for r in e["attention"]] != list(range(L)): bad.append("attention layers")
for r in e["attention"]:
    near(r["image"] + r["bos"] + r["text"], 1, 1e-5, f"layer {r['layer']} shares")
    for h in range(H):
        parts = [r[k][h] for k in ("image_per_head", "bos_per_head", "text_per_head")]
        if min(parts) < 0 or max(parts) > 1: bad.append(f"layer {r['layer']} head {h}: {parts}")
        near(sum(parts), 1, 1e-5, f"layer {r['layer']} head {h} sum")
    near(r["image"], np.mean(r["image_per_head"]), 1e-12, "head mean")
    near(r["image_per_token"], r["image"] / 16, 1e-12, "image per token")
# the answer is generate's greedy answer; the last lens layer with the norm is the model's distribution
ids = [t["id"] for t in e["answer"]["tokens"]]
if ids != g["ids"]: bad.append(f"answer {ids} vs generate {g['ids']}")
if g["prompt_ids"][-1] != g["prompt_ids"][e["prompt_tokens"] - 1] or len(g["prompt_ids"]) != e["prompt_tokens"]:
    bad.append("prompt length")
lens = e["logit_lens"]["layers"]
if [r["layer"] for r in lens] != list(range(-1, L)) or not e["logit_lens"]["final_norm"]: bad.append("lens layers")
if lens[-1]["top"][0]["id"] != ids[0] or lens[-1]["answer_rank"] != 1: bad.append("last lens layer top-1")
def logsoftmax(l):
    l = l.astype(np.float64); m = l.max()
    return l - m - np.log(np.exp(l - m).sum())
li, ln = logsoftmax(np.load(f"{T}/img.npy")), logsoftmax(np.load(f"{T}/noimg.npy"))
near(e["logp"]["image"][0], li[ids[0]], 1e-4, "log p first token, image")
near(e["logp"]["no_image"][0], ln[ids[0]], 1e-4, "log p first token, no image")
near(lens[-1]["answer_prob"], np.exp(li[ids[0]]), 1e-5, "lens p(answer) at the last layer")
for i, t in enumerate(lens[-1]["top"]): near(t["p"], np.exp(li[t["id"]]), 1e-5, f"lens top {i}")
# contributions are differences of what is shown
for c in ("image", "no_image", "mean_image", "noise_image"):
    near(e["logp_sum"][c], sum(e["logp"][c]), 1e-9, f"logp_sum {c}")
    if len(e["logp"][c]) != len(ids): bad.append(f"logp {c} length")
for c in ("no_image", "mean_image", "noise_image"):
    v = e["visual_contribution"]["vs_" + c]
    near(v["sum"], e["logp_sum"]["image"] - e["logp_sum"][c], 1e-9, f"vc {c}")
    near(v["first_token"], e["logp"]["image"][0] - e["logp"][c][0], 1e-12, f"vc first {c}")
# without the norm: another lens, the same attention and answer
if raw["logit_lens"]["final_norm"] or raw["attention"] != e["attention"] or raw["answer"] != e["answer"]:
    bad.append("--no-lens-norm changed more than the lens")
if all(abs(a["answer_prob"] - b["answer_prob"]) < 1e-9 for a, b in zip(raw["logit_lens"]["layers"], lens)):
    bad.append("--no-lens-norm did not change the lens")
print("\n".join(bad) if bad else "ok")
EOF
)
[ "$check" = ok ] && pass || fail "explain JSON: $check"

# Tables for people.
if ex --image "$IMG" --prompt "$Q" --max-tokens 3 >"$T/e.txt" 2>"$T/err" && grep -q "visual contribution" "$T/e.txt" &&
    [ "$(grep -cE '^ +-?[0-9]+ ' "$T/e.txt")" -eq 3 ]; then pass
else fail "text tables: $(cat "$T/err" "$T/e.txt")"; fi

# Batch over a probe file: relative images found in ../images; each line equals the single form.
if ex --questions "$T/sc/probes/relation.jsonl" --limit 3 --max-tokens 4 --out "$T/b.jsonl" --quiet >"$T/b.out" 2>"$T/err"; then
    first=$("$PY" -c "
import json; r = json.loads(open('$T/sc/probes/relation.jsonl').readline()); print(r['image']); print(r['text'])")
    img=$(sed -n 1p <<<"$first") text=$(sed -n 2p <<<"$first")
    ex --image "$T/sc/images/$img" --prompt "$text" --max-tokens 4 --json >"$T/one.json" 2>"$T/err" || fail "single: $(cat "$T/err")"
    got=$("$PY" - "$T" <<'EOF' 2>&1
import json, sys
T = sys.argv[1]
lines = [json.loads(l) for l in open(f"{T}/b.jsonl")]
one = json.load(open(f"{T}/one.json"))
out = json.load(open(f"{T}/b.out"))
probe = json.loads(open(f"{T}/sc/probes/relation.jsonl").readline())
bad = []
if len(lines) != 3 or out["questions"] != 3: bad.append(f"{len(lines)} lines")
if lines[0]["question_id"] != probe["question_id"] or lines[0]["prompt"] != probe["text"]: bad.append("identity")
for k in one:
    if lines[0][k] != one[k]: bad.append(f"{k} differs from the single form")
mean = sum(l["attention"][0]["image"] for l in lines) / 3
if abs(out["mean_attention_image_by_layer"][0] - mean) > 1e-6: bad.append("summary mean")
print("\n".join(bad) if bad else "ok")
EOF
)
    [ "$got" = ok ] && pass || fail "batch: $got"
else fail "batch: $(cat "$T/err")"; fi

# Bad input.
P=$T/bad
mkdir -p "$P"
printf 'not a png' >"$P/bad.png"
printf '{"question_id": 1, "image": "%s", "text": "Hi?"}\n{"question_id": 2, "image": \n' "$IMG" >"$P/broken.jsonl"
printf '{"question_id": 1, "image": "%s", "text": "Hi?"}\n{"question_id": 2, "image": "nope.png", "text": "Hi?"}\n' "$IMG" >"$P/missing.jsonl"
printf '{"question_id": 1, "image": "%s"}\n' "$IMG" >"$P/notext.jsonl"
printf '{"question_id": 1, "image": "%s", "text": "Hi?"}\n{"question_id": 2, "image": "%s", "text": "Hi?"}\n' "$IMG" "$P/bad.png" >"$P/undecodable.jsonl"
long=$(printf 'red star %.0s' $(seq 1 400))
expect_fail bad_json 'broken\.jsonl:2: .*JSON' ex --questions "$P/broken.jsonl" --out "$P/o.jsonl"
expect_fail missing_image 'missing\.jsonl:2: image nope\.png not found' ex --questions "$P/missing.jsonl" --out "$P/o.jsonl"
expect_fail no_text 'notext\.jsonl:1: .*text' ex --questions "$P/notext.jsonl" --out "$P/o.jsonl"
expect_fail undecodable 'undecodable\.jsonl:2: .*bad\.png' ex --questions "$P/undecodable.jsonl" --out "$P/o.jsonl"
expect_fail image_file 'bad\.png' ex --image "$P/bad.png" --prompt "$Q"
expect_fail no_image_file 'nothere\.png' ex --image "$P/nothere.png" --prompt "$Q"
expect_fail long_prompt 'context' ex --image "$IMG" --prompt "$long"
expect_fail max_tokens_zero '--max-tokens' ex --image "$IMG" --prompt "$Q" --max-tokens 0
expect_fail no_out '--questions needs --out' ex --questions "$P/missing.jsonl"
expect_fail no_prompt '--prompt TEXT is required' ex --image "$IMG"
expect_fail unknown_option "unknown option '--frobnicate'" ex --image "$IMG" --prompt "$Q" --frobnicate 2
expect_fail no_model 'nomodel' "$ML_BIN" explain --model "$T/nomodel" --image "$IMG" --prompt "$Q"

cli_summary explain
