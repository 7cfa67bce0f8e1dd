#!/usr/bin/python3
"""Naive reference of the Hugging Face tokenizer for LLaMA's tokenizer.json, for
tests/test_tokenizer.c and tests/test_prompt.c (run with Debian's /usr/bin/python3).

    hf_tokenizer.py encode TOKENIZER_JSON VECTORS_PREFIX OUT   random texts and their ids
    hf_tokenizer.py prompt TOKENIZER_JSON OUT                  chat prompts and their ids

It is written from the `tokenizers` rules, not from the C code, and the slow way:
added tokens split the raw text (leftmost, longest first); each stretch between
them is normalized on its own (Prepend "▁", Replace " " -> "▁"); BPE then
repeatedly merges the adjacent pair of lowest rank (leftmost on ties) over the
whole stretch; characters missing from the vocab become their <0xXX> pieces.
Before writing anything it checks itself on the llama.cpp vectors (made by the
HF tokenizer) and stops if any differs.

Output lines: hex(text) TAB ids separated by spaces (encode), or
template TAB has_image TAB hex(system or "-") TAB hex(text) TAB ids (prompt).
"""
import json
import random
import sys

WORD = "\u2581"


class Reference:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        self.vocab = model["vocab"]
        self.ranks = {}
        for rank, m in enumerate(model["merges"]):
            a, b = m if isinstance(m, list) else m.split(" ")
            self.ranks[(a, b)] = rank
        self.added = {t["content"]: t["id"] for t in tj["added_tokens"]}

    def bpe(self, word):
        syms = []
        for ch in word:
            if ch in self.vocab:
                syms.append(ch)
            else:
                syms.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
        while True:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return [self.vocab[s] for s in syms]

    def encode(self, text):
        ids, start, i = [], 0, 0
        while i < len(text):
            hit = max((t for t in self.added if text.startswith(t, i)), key=len, default=None)
            if hit is None:
                i += 1
                continue
            ids += self.segment(text[start:i]) + [self.added[hit]]
            i += len(hit)
            start = i
        return ids + self.segment(text[start:])

    def segment(self, s):
        return self.bpe(WORD + s.replace(" ", WORD)) if s else []


def check_vectors(ref, prefix):
    with open(prefix + ".inp", encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    with open(prefix + ".out", encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert len(texts) == len(lines) == 47, (len(texts), len(lines))
    for text, line in zip(texts, lines):
        want = [int(x) for x in line.split()]
        got = ref.encode(text)
        if got != want:
            sys.exit("reference disagrees with the HF vectors on %r: %r vs %r" % (text, got, want))


PIECES = ["Hello", "world", " ", "  ", "\n", "\t", "the", "image", "What's", "?", "!", ".", ",", "3", "42",
          "1314", "é", "ü", "naïve", "Führer", "нещо", "我想", "工作", "🦙", "😁", "✅", "\u2581", "<s>", "</s>",
          "<image>", "<pad>", "<unk>", "<ima", "image>", "<", ">", "a", "zq", "\r\n", "\u00a0", "x" * 9, "ASSISTANT:",
          "USER:", "\U0001F680", "ق", "ก", "\x00", "'s", "-", "__"]


def random_texts(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(0, 12)
        out.append("".join(rng.choice(PIECES) for _ in range(k)))
    return out


def hexs(s):
    return s.encode("utf-8").hex()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    ref = Reference(path)
    if mode == "encode":
        check_vectors(ref, sys.argv[3])
        with open(sys.argv[4], "w") as f:
            for text in random_texts(400, 1234):
                f.write("%s\t%s\n" % (hexs(text), " ".join(map(str, ref.encode(text)))))
    elif mode == "prompt":
        v1 = ("A chat between a curious human and an artificial intelligence assistant. "
              "The assistant gives helpful, detailed, and polite answers to the human's questions.")
        cases = [("hf", 1, None, "What's the content of the image?"), ("hf", 0, None, "What's the content of the image?"),
                 ("hf", 1, "You are a careful assistant.", "Is there a red cube?"),
                 ("llava-v1", 1, None, "Describe this image in detail."), ("llava-v1", 0, None, "Hello  there"),
                 ("raw", 1, None, "<image>\nDescribe it."), ("raw", 0, None, " Hello world"),
                 ("hf", 1, None, "Compare <image> with this text"), ("hf", 1, None, "Hello <s> there 🦙")]
        with open(sys.argv[3], "w") as f:
            for tmpl, has_image, system, text in cases:
                if tmpl == "raw":
                    full = text
                else:
                    sys_text = system if system is not None else (v1 if tmpl == "llava-v1" else None)
                    image = "<image>\n" if has_image and "<image>" not in text else ""
                    full = (sys_text + " " if sys_text else "") + "USER: " + image + text + " ASSISTANT:"
                ids = [1]
                if has_image:
                    before, after = full.split("<image>")
                    ids += ref.encode(before) + [32000] * 576 + ref.encode(after)
                else:
                    ids += ref.encode(full)
                f.write("%s\t%d\t%s\t%s\t%s\n" % (tmpl, has_image, hexs(system) if system else "-", hexs(text),
                                                  " ".join(map(str, ids))))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
