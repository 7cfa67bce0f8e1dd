#!/usr/bin/env bash
# align.sh: `misalign align` on a tiny random checkpoint and a scenes train split's captions.jsonl (read as it
# is).  Every metric in align.json is recomputed with NumPy (tests/reference/align_metrics.py, the clamp written
# here from platonic-rep) from the features the run saves; the decoder series is what summary.json gives the
# report; the mutual k-NN grids agree with the series; a consistently permuted pairs file (absolute image
# paths) gives the same values; --all-captions keeps every caption; bad input gives one line naming the file
# and line, exit 1 (2 for bad usage), never a crash.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy
T=$ML_TEST_TMP/align
rm -rf "$T" && mkdir -p "$T" || exit 1
M=$T/tiny
REF=$(cd "$(dirname "$0")/../reference" && pwd)
"$ML_BIN" init-model --out "$M" --preset tiny --seed 5 >/dev/null 2>"$T/err" &&
    "$ML_BIN" scenes --out "$T/sc" --n 24 --seed 2 --split train --quiet >/dev/null 2>>"$T/err" ||
    { fail "setup: $(cat "$T/err")"; cli_summary align; exit 1; }

al() { "$ML_BIN" align --model "$M" --quiet "$@"; }

if al --pairs "$T/sc/captions.jsonl" --out "$T/run" --k 5 --save-features >"$T/out.json" 2>"$T/err"; then pass
else fail "align on captions.jsonl: $(cat "$T/err")"; fi

check=$("$PY" - "$T" "$REF" <<'EOF' 2>&1
import json, sys
import numpy as np
T, REF = sys.argv[1], sys.argv[2]
sys.path.insert(0, REF)
import align_metrics as am

def clamp(x, q):  # platonic-rep remove_outliers: mean over rows of the per-row q-quantile of |x|
    t = np.quantile(np.abs(x), q, axis=1).mean()
    return np.clip(x, -t, t)

def metrics(x, y, k, sigma):
    x = clamp(x.astype(np.float64), 0.95); y = clamp(y.astype(np.float64), 0.95)
    x /= np.linalg.norm(x, axis=1, keepdims=True); y /= np.linalg.norm(y, axis=1, keepdims=True)
    out = {"mutual_knn": am.mutual_knn(x, y, k), "cka_linear": am.cka(x @ x.T, y @ y.T),
           "cka_rbf": am.cka(am.rbf(x, sigma), am.rbf(y, sigma)),
           "cka_unbiased": am.cka(x @ x.T, y @ y.T, unbiased=True), "cknna": am.cknna(x, y, k)}
    if x.shape[1] == y.shape[1]:
        n = x.shape[0]; c = x @ y.T
        out["cos_matched"] = np.trace(c) / n
        out["cos_mismatched"] = (c.sum() - np.trace(c)) / (n * (n - 1))
        out["modality_gap"] = np.linalg.norm(x.mean(0) - y.mean(0))
    else:
        out.update(cos_matched=None, cos_mismatched=None, modality_gap=None)
    return out

bad = []
a = json.load(open(f"{T}/run/align.json"))
s = json.load(open(f"{T}/run/summary.json"))
run = json.load(open(f"{T}/run/run.json"))
out = json.loads(open(f"{T}/out.json").read())
images = {json.loads(l)["image"] for l in open(f"{T}/sc/captions.jsonl")}
vis, img, cap = (np.load(f"{T}/run/features_{n}.npy") for n in ("vision", "image", "caption"))
cfg = json.load(open(f"{T}/tiny/config.json"))
L, Dt, Dv = cfg["text_config"]["num_hidden_layers"], cfg["text_config"]["hidden_size"], cfg["vision_config"]["hidden_size"]
LV = cfg["vision_config"]["num_hidden_layers"] + 1 + cfg["vision_feature_layer"]  # ViT layers that run
n = len(images)
if a["n"] != n or out["pairs"] != n: bad.append(f"pairs {a['n']}, want one per image: {n}")
if img.shape != (n, L + 1, Dt) or cap.shape != (n, L + 1, Dt) or vis.shape != (n, LV + 1, Dv):
    bad.append(f"feature shapes {vis.shape} {img.shape} {cap.shape}")
if a["layers"] != list(range(-1, L)) or a["vision"]["layers"] != list(range(-1, LV)): bad.append(f"layers {a['layers']} {a['vision']['layers']}")
names = ["cos_matched", "cos_mismatched", "mutual_knn", "cka_linear", "cka_rbf", "cka_unbiased", "cknna", "modality_gap"]
def compare(series, got, want, where):
    for m in names:
        g, w = got[m], want[m]
        if (g is None) != (w is None) or (g is not None and abs(g - w) > 1e-5):
            bad.append(f"{where} {series} {m}: {g} vs NumPy {w}")
for i in range(L + 1):
    compare("lm", {m: a["metrics"][m][i] for m in names}, metrics(img[:, i], cap[:, i], 5, 1.0), f"layer {i - 1}")
for i in range(LV + 1):
    compare("vision", {m: a["vision"]["metrics"][m][i] for m in names}, metrics(vis[:, i], cap[:, L], 5, 1.0), f"layer {i - 1}")
if a["vision"]["caption_layers"] != [L - 1] * (LV + 1): bad.append(f"vision caption layers {a['vision']['caption_layers']}")
# the report's format: benchmark, layers and one array per metric, as align.json's top level
if s["benchmark"] != "align" or s["layers"] != a["layers"] or s["metrics"] != a["metrics"] or s["label"] != "tiny":
    bad.append("summary.json differs from align.json's decoder series")
if run["benchmark"] != "align" or run["params"]["k"] != 5: bad.append(f"run.json {run}")
# grids: the image grid's diagonal is the series' mutual k-NN; the vision grid's last column the vision series'
g = a["mutual_knn_grid"]
for i in range(L + 1):
    if abs(g["image"]["mutual_knn"][i][i] - a["metrics"]["mutual_knn"][i]) > 1e-12: bad.append(f"image grid diagonal {i}")
    if g["image"]["best"][i] != max(g["image"]["mutual_knn"][i]): bad.append(f"image grid best {i}")
for i in range(LV + 1):
    if abs(g["vision"]["mutual_knn"][i][L] - a["vision"]["metrics"]["mutual_knn"][i]) > 1e-12: bad.append(f"vision grid {i}")
    want = am.mutual_knn(*(v / np.linalg.norm(v, axis=1, keepdims=True) for v in
                           (clamp(vis[:, i].astype(np.float64), 0.95), clamp(cap[:, 0].astype(np.float64), 0.95))), 5)
    if abs(g["vision"]["mutual_knn"][i][0] - want) > 1e-9: bad.append(f"vision grid [{i}][0] {g['vision']['mutual_knn'][i][0]} vs {want}")
rows = [json.loads(l) for l in open(f"{T}/run/align_layers.jsonl")]
if len(rows) != L + 1 + LV + 1 or rows[0]["series"] != "lm" or rows[-1]["series"] != "vision" or rows[0]["x_layer"] != -1:
    bad.append(f"align_layers.jsonl: {len(rows)} rows")
elif any(abs(rows[i]["cka_linear"] - a["metrics"]["cka_linear"][i]) > 1e-15 for i in range(L + 1)):
    bad.append("align_layers.jsonl disagrees with align.json")
# the same pairs (the first caption of each image), permuted, with absolute image paths
seen, pairs = set(), []
for l in open(f"{T}/sc/captions.jsonl"):
    r = json.loads(l)
    if r["image"] not in seen:
        seen.add(r["image"]); pairs.append({"image": f"{T}/sc/images/{r['image']}", "caption": r["caption"]})
perm = np.random.default_rng(3).permutation(len(pairs))
with open(f"{T}/perm.jsonl", "w") as f:
    for i in perm: f.write(json.dumps(pairs[i]) + "\n")
print("\n".join(bad) if bad else "ok")
EOF
)
[ "$check" = ok ] && pass || fail "align.json against NumPy: $check"

# A consistent permutation of the pairs changes no value.
if al --pairs "$T/perm.jsonl" --out "$T/perm" --k 5 >/dev/null 2>"$T/err"; then
    same=$("$PY" - "$T" <<'EOF' 2>&1
import json, sys
T = sys.argv[1]
a, b = json.load(open(f"{T}/run/align.json")), json.load(open(f"{T}/perm/align.json"))
bad = []
for series in ("top", "vision"):
    ma = a["metrics"] if series == "top" else a["vision"]["metrics"]
    mb = b["metrics"] if series == "top" else b["vision"]["metrics"]
    for m, va in ma.items():
        for x, y in zip(va, mb[m]):
            if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-9): bad.append(f"{series} {m}: {x} vs {y}")
print("\n".join(bad) if bad else "ok")
EOF
)
    [ "$same" = ok ] && pass || fail "permuted pairs: $same"
else fail "align on permuted pairs: $(cat "$T/err")"; fi

# Every caption, a layer subset, the report's plots.
if al --pairs "$T/sc/captions.jsonl" --out "$T/all" --k 3 --all-captions --layers 1 --vision-layers none --label every \
    >"$T/all.json" 2>"$T/err"; then
    got=$("$PY" -c "
import json; a = json.load(open('$T/all/align.json'))
print(a['n'], a['layers'], 'vision' in a, a['label'], len(open('$T/sc/captions.jsonl').readlines()))")
    [ "$got" = "48 [1] False every 48" ] && pass || fail "--all-captions --layers 1: $got"
else fail "--all-captions: $(cat "$T/err")"; fi
if "$ML_BIN" report "$T/run" "$T/all" --out "$T/r.html" 2>"$T/err" && grep -q "<svg" "$T/r.html" && grep -q "mutual_knn" "$T/r.html" &&
    grep -q "every" "$T/r.html"; then pass
else fail "report of align runs: $(cat "$T/err")"; fi

# Bad input: one line naming the file and the line.
P=$T/bad
mkdir -p "$P"
cp "$T/sc/images/train_000000.png" "$P/a.png"
good='{"image": "a.png", "caption": "a red star"}'
printf '%s\n%s\n{"image": "nope.png", "caption": "x"}\n' "$good" "$good" >"$P/missing.jsonl"
printf '%s\n%s\n{"image": \n' "$good" "$good" >"$P/broken.jsonl"
printf '%s\n{"image": "a.png"}\n' "$good" >"$P/nocap.jsonl"
printf '%s\n{"image": "a.png", "caption": 7}\n' "$good" >"$P/numcap.jsonl"
printf '%s\n%s\n%s\n%s\n{"image": "a.png", "caption": ""}\n' "$good" "$good" "$good" "$good" >"$P/empty.jsonl"
long=$(printf 'red star %.0s' $(seq 1 400))
printf '%s\n%s\n%s\n%s\n{"image": "a.png", "caption": "%s"}\n' "$good" "$good" "$good" "$good" "$long" >"$P/long.jsonl"
for i in 1 2 3; do echo "$good"; done >"$P/three.jsonl"
expect_fail missing_image 'missing\.jsonl:3: image nope\.png not found' al --pairs "$P/missing.jsonl" --out "$P/o"
expect_fail bad_json 'broken\.jsonl:3: .*JSON' al --pairs "$P/broken.jsonl" --out "$P/o"
expect_fail no_caption 'nocap\.jsonl:2: .*caption' al --pairs "$P/nocap.jsonl" --out "$P/o"
expect_fail caption_type 'numcap\.jsonl:2: .*caption' al --pairs "$P/numcap.jsonl" --out "$P/o" --all-captions
expect_fail empty_caption 'empty\.jsonl:5: caption: empty' al --pairs "$P/empty.jsonl" --out "$P/o" --all-captions --k 2
expect_fail long_caption 'long\.jsonl:5: caption: .*context' al --pairs "$P/long.jsonl" --out "$P/o" --all-captions --k 2
expect_fail too_few 'three\.jsonl: 3 pairs are too few' al --pairs "$P/three.jsonl" --out "$P/o" --all-captions --k 2
expect_fail no_file 'nothere\.jsonl' al --pairs "$P/nothere.jsonl" --out "$P/o"
expect_fail bad_layers '^misalign: error: --layers: layers .9.: layer 9 is outside -1\.\.1' \
    al --pairs "$T/sc/captions.jsonl" --out "$P/o" --k 3 --layers 9
expect_fail bad_vision_layers 'vision-layers' al --pairs "$T/sc/captions.jsonl" --out "$P/o" --k 3 --vision-layers 0,0
expect_fail caption_layer 'caption-layer 0 is not among --layers' \
    al --pairs "$T/sc/captions.jsonl" --out "$P/o" --k 3 --layers 1 --caption-layer 0
expect_fail k_too_big 'too few for --k 30' al --pairs "$T/sc/captions.jsonl" --out "$P/o" --k 30
expect_fail k_one '--k' al --pairs "$T/sc/captions.jsonl" --out "$P/o" --k 1
expect_fail unknown_option "unknown option '--frobnicate'" al --pairs "$T/sc/captions.jsonl" --out "$P/o" --frobnicate 1
expect_fail no_pairs '--pairs F is required' al --out "$P/o"
expect_fail no_model "nomodel" "$ML_BIN" align --model "$T/nomodel" --pairs "$T/sc/captions.jsonl" --out "$P/o"
[ -e "$P/o" ] && fail "a failed run left $P/o behind" || pass

cli_summary align
