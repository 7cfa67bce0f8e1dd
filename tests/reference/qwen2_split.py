#!/usr/bin/python3
"""The Qwen2 pre-tokenizer split with Python's `regex` module (Debian python3-regex),
for tests/test_tokenizer_qwen2.c.

    qwen2_split.py OUT.txt

The pattern is the one Qwen2's tokenizer.json gives its Split pre-tokenizer
(Isolated: matches and the text between them become pieces; this pattern
matches every character, so there is nothing between).  Each line: a random
text in hex, then its pieces in hex, space-separated.  Texts mix ASCII,
contractions in any case, whitespace runs of every kind, letters and digits
of several scripts, marks and emoji, from a fixed seed.
"""
import random
import sys

import regex

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
           r"|\s+(?!\S)|\s+")


def main():
    rng = random.Random(16)
    pool = ([chr(c) for c in range(0x20, 0x7F)] + list("\n\r\t\x0b\x0c \u00a0\u1680\u2003\u2028\u2029\u3000\u0085") +
            list("'''sStTrReEvVmMlLdD") + [chr(c) for c in (0xE9, 0x301, 0x308, 0x4E2D, 0x6587, 0x1F999, 0x660,
                                                           0xBD, 0x2163, 0x915, 0x94D, 0x5D0, 0x3042, 0xAC00,
                                                           0x2E80, 0xFF01, 0x200D, 0x1D7D8, 0x17F)])
    pat = regex.compile(PATTERN)
    with open(sys.argv[1], "w") as f:
        for _ in range(5000):
            text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 30)))
            pieces = pat.findall(text)
            assert "".join(pieces) == text
            f.write("%s %s\n" % (text.encode().hex(), " ".join(p.encode().hex() for p in pieces)))


if __name__ == "__main__":
    main()
