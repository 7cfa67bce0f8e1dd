#!/usr/bin/env bash
# generate.sh: `misalign generate` on a tiny random checkpoint: the JSON contract, streaming text equal to
# the JSON text, --dump-logits / --dump-image-features as .npy files read by NumPy (the first greedy token
# is the argmax of the dumped logits), --max-tokens 0, seeds, thread counts; and every bad input gives one
# error line naming the file and the problem, with exit 1 (2 for bad usage), never a crash.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy, PIL
T=$ML_TEST_TMP/generate
rm -rf "$T" && mkdir -p "$T" || exit 1
M=$T/tiny
"$ML_BIN" init-model --out "$M" --preset tiny --dtype f16 --seed 3 >/dev/null 2>"$T/err" || { fail "init-model: $(cat "$T/err")"; cli_summary generate; exit 1; }
"$PY" -c "
from PIL import Image; import numpy as np
r = np.random.default_rng(1)
Image.fromarray(r.integers(0, 256, (45, 70, 3), dtype=np.uint8)).save('$T/img.png')" || fail "cannot write the test image"
printf 'not an image at all' >"$T/bad.png"

gen() { "$ML_BIN" generate --model "$M" "$@"; }

# JSON contract, with an image.
if gen --image "$T/img.png" --prompt "What is in the picture?" --max-tokens 8 --json >"$T/a.json" 2>"$T/err"; then pass
else fail "generate --json: $(cat "$T/err")"; fi
gen --image "$T/img.png" --prompt "What is in the picture?" --max-tokens 8 >"$T/a.txt" 2>"$T/err" || fail "streaming: $(cat "$T/err")"
gen --image "$T/img.png" --prompt "What is in the picture?" --max-tokens 0 --dump-logits "$T/l.npy" \
    --dump-image-features "$T/f.npy" --json >"$T/z.json" 2>"$T/err" || fail "max-tokens 0: $(cat "$T/err")"
gen --prompt "What is in the picture?" --max-tokens 4 --json >"$T/noimg.json" 2>"$T/err" || fail "no image: $(cat "$T/err")"
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --temperature 0.9 --top-p 0.9 --seed 5 --json >"$T/s1.json" 2>&1
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --temperature 0.9 --top-p 0.9 --seed 5 --json >"$T/s2.json" 2>&1
gen --image "$T/img.png" --prompt "What is in the picture?" --max-tokens 8 --threads 1 --json >"$T/t1.json" 2>&1
gen --image "$T/img.png" --image-aspect pad --template llava-v1 --prompt "Hi" --max-tokens 2 --json >"$T/pad.json" 2>&1 ||
    fail "pad + llava-v1: $(cat "$T/pad.json")"

check=$("$PY" - "$T" "$M" <<'EOF' 2>&1
import json, sys
import numpy as np
T, M = sys.argv[1], sys.argv[2]
cfg = json.load(open(M + '/config.json'))
img_id, n_img, vocab = cfg['image_token_index'], cfg['image_seq_length'], cfg['vocab_size']
hidden = cfg['text_config']['hidden_size']
a = json.load(open(T + '/a.json'))
for k in ('prompt_ids', 'ids', 'text', 'prefill_seconds', 'decode_tokens_per_second'):
    assert k in a, 'missing key ' + k
p = a['prompt_ids']
assert p[0] == 1, 'prompt does not start with BOS'
assert p.count(img_id) == n_img, 'image tokens: %d, want %d' % (p.count(img_id), n_img)
assert 1 <= len(a['ids']) <= 8, 'ids: %r' % a['ids']
assert all(0 <= i < vocab for i in a['ids'])
assert a['prefill_seconds'] >= 0 and a['decode_tokens_per_second'] >= 0
txt = open(T + '/a.txt', encoding='utf-8', errors='replace').read()
assert txt.rstrip('\n') == a['text'], 'streamed %r, json %r' % (txt, a['text'])
z = json.load(open(T + '/z.json'))
assert z['ids'] == [] and z['text'] == '' and z['prompt_ids'] == p, 'max-tokens 0: %r' % z
l = np.load(T + '/l.npy')
assert l.dtype == np.float32 and l.shape == (vocab,), 'logits %s %s' % (l.dtype, l.shape)
assert np.isfinite(l).all()
assert int(np.argmax(l)) == a['ids'][0], 'first greedy token %d, argmax of the dumped logits %d' % (a['ids'][0], np.argmax(l))
f = np.load(T + '/f.npy')
assert f.dtype == np.float32 and f.shape == (n_img, hidden), 'features %s' % (f.shape,)
assert np.isfinite(f).all() and np.abs(f).max() > 0
n = json.load(open(T + '/noimg.json'))
assert img_id not in n['prompt_ids'] and n['prompt_ids'][0] == 1
s1, s2 = json.load(open(T + '/s1.json')), json.load(open(T + '/s2.json'))
assert s1['ids'] == s2['ids'], 'same seed, different samples'
t1 = json.load(open(T + '/t1.json'))
assert t1['ids'] == a['ids'], '1 thread and all threads differ: %r %r' % (t1['ids'], a['ids'])
pd = json.load(open(T + '/pad.json'))
assert pd['prompt_ids'].count(img_id) == n_img and len(pd['prompt_ids']) > len(p)
print('ok')
EOF
)
[ "$check" = ok ] && pass || fail "output checks: $check"

# Bad usage: exit 2.
expect_fail "no model" "--model" "$ML_BIN" generate --prompt hi
expect_fail "no prompt" "--prompt" "$ML_BIN" generate --model "$M"
expect_fail "unknown flag" "unknown option" "$ML_BIN" generate --model "$M" --prompt hi --frobnicate 1
expect_fail "bad temperature" "--temperature" "$ML_BIN" generate --model "$M" --prompt hi --temperature -1
expect_fail "bad top-p" "--top-p" "$ML_BIN" generate --model "$M" --prompt hi --top-p 2
expect_fail "bad template" "template" "$ML_BIN" generate --model "$M" --prompt hi --template chatml
expect_fail "features without image" "needs --image" "$ML_BIN" generate --model "$M" --prompt hi --dump-image-features "$T/x.npy"
"$ML_BIN" generate --model "$M" --prompt hi --max-tokens x >/dev/null 2>&1; [ $? -eq 2 ] && pass || fail "bad --max-tokens is not exit 2"

# Bad input: exit 1, one line naming the file.
expect_fail "missing model" "no-such-dir" "$ML_BIN" generate --model "$T/no-such-dir" --prompt hi
expect_fail "missing image" "nothere.png" "$ML_BIN" generate --model "$M" --image "$T/nothere.png" --prompt hi
expect_fail "not an image" "bad.png" "$ML_BIN" generate --model "$M" --image "$T/bad.png" --prompt hi
long=$(for i in $(seq 700); do printf 'word '; done)
expect_fail "prompt too long" "config.json.*max_position_embeddings" "$ML_BIN" generate --model "$M" --prompt "$long" --max-tokens 1

# A checkpoint missing a tensor, one with a shape that contradicts its config, one truncated.
for v in missing shape trunc; do cp -r "$M" "$T/$v"; done
"$PY" - "$M/model.safetensors" "$T/missing/model.safetensors" <<'EOF' || fail "cannot write the damaged checkpoint"
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
drop = 'language_model.model.layers.1.mlp.up_proj.weight'
meta = h.pop('__metadata__', None)
keep = {k: v for k, v in h.items() if k != drop}
data, out, off = b[8 + n:], {}, 0
parts = []
for k, v in sorted(keep.items(), key=lambda kv: kv[1]['data_offsets']):
    s, e = v['data_offsets']
    parts.append(data[s:e])
    out[k] = dict(v, data_offsets=[off, off + e - s])
    off += e - s
if meta is not None: out['__metadata__'] = meta
hj = json.dumps(out).encode()
hj += b' ' * ((8 - len(hj) % 8) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(parts))
EOF
expect_fail "missing tensor" "up_proj" "$ML_BIN" generate --model "$T/missing" --prompt hi
sed -i 's/"intermediate_size": 96/"intermediate_size": 100/' "$T/shape/config.json"
expect_fail "shape mismatch" "gate_proj.*(shape|100)|(shape|100).*gate_proj" "$ML_BIN" generate --model "$T/shape" --prompt hi
head -c 5000 "$M/model.safetensors" >"$T/trunc/model.safetensors"
expect_fail "truncated weights" "model.safetensors" "$ML_BIN" generate --model "$T/trunc" --prompt hi

# --method runs through the same runner as eval: identities between methods.
ids() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['ids'])" "$1"; }
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --method greedy --json >"$T/m_greedy.json" 2>&1
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --json >"$T/m_plain.json" 2>&1
[ "$(ids "$T/m_greedy.json")" = "$(ids "$T/m_plain.json")" ] && pass || fail "--method greedy differs from the default"
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --method sample --param temperature=0.9 --param top_p=0.9 \
    --seed 5 --json >"$T/m_sample.json" 2>&1
[ "$(ids "$T/m_sample.json")" = "$(ids "$T/s1.json")" ] && pass || fail "--method sample differs from --temperature/--top-p"
# VCD with alpha 0 and beta 0 is its normal pass alone: (1+0) l - 0 l' = l, APC keeps everything
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --method vcd --param alpha=0 --param beta=0 \
    --param temperature=0.9 --param top_p=0.9 --seed 5 --json >"$T/m_vcd0.json" 2>&1
[ "$(ids "$T/m_vcd0.json")" = "$(ids "$T/s1.json")" ] && pass || fail "vcd alpha=0 beta=0 differs from sampling: $(cat "$T/m_vcd0.json")"
gen --image "$T/img.png" --prompt "Describe it." --max-tokens 6 --method vcd --param alpha=3 --param beta=0 \
    --param temperature=0 --json >"$T/m_vcd3.json" 2>&1 || fail "vcd alpha=3: $(cat "$T/m_vcd3.json")"
expect_fail "unknown method" "unknown method 'nope'" "$ML_BIN" generate --model "$M" --prompt hi --method nope
expect_fail "method and sampling flags" "--param temperature" "$ML_BIN" generate --model "$M" --prompt hi --method vcd --temperature 1
expect_fail "param without method" "--param needs --method" "$ML_BIN" generate --model "$M" --prompt hi --param alpha=1
expect_fail "bad parameter" "method vcd has no parameter 'gamma'" "$ML_BIN" generate --model "$M" --prompt hi --method vcd --param gamma=1

"$ML_BIN" generate --help >"$T/help" 2>&1 && grep -q -- "--dump-logits" "$T/help" && grep -q -- "--threads" "$T/help" && pass ||
    fail "--help"
cli_summary generate
