#!/usr/bin/python3
"""Python's unicodedata NFC on random texts, for tests/test_tokenizer_qwen2.c.

    unicode_nfc.py OUT.txt

Each line: the input text in hex, a space, its NFC in hex.  The texts mix
ASCII, Latin letters with combining marks in scrambled order, precomposed
letters, Hangul syllables and jamo, Indic and Tibetan signs, composition
exclusions and singletons, from a fixed seed; then every code point below
U+30000 (surrogates left out) on its own, each followed by U+0301.
"""
import random
import sys
import unicodedata

POOL = ([ord(c) for c in "aeiouAEIOUnNcCsSzZ ~-'"] + list(range(0x300, 0x370)) + list(range(0xC0, 0x180)) +
        list(range(0x1100, 0x1176)) + list(range(0x11A8, 0x11C3)) + [0xAC00, 0xAC01, 0xD7A3, 0xB044] +
        list(range(0x0900, 0x0980)) + list(range(0x0F40, 0x0F90)) + [0x0344, 0x0F73, 0x2126, 0x212B, 0x1E9B,
        0x0958, 0x2ADC, 0x1D15E, 0x05B0, 0x05B1, 0x0591, 0x3099, 0x309A, 0x304B, 0x30AB, 0x1E0A, 0x0323, 0x0307])


def main():
    rng = random.Random(16)
    with open(sys.argv[1], "w") as f:
        texts = []
        for _ in range(4000):
            texts.append("".join(chr(rng.choice(POOL)) for _ in range(rng.randint(1, 12))))
        for cp in range(0x30000):
            if not 0xD800 <= cp <= 0xDFFF:
                texts.append(chr(cp) + "\u0301")
        for t in texts:
            f.write("%s %s\n" % (t.encode().hex(), unicodedata.normalize("NFC", t).encode().hex()))


if __name__ == "__main__":
    main()
