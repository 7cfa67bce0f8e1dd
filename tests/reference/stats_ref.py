"""Independent values for tests/test_report_stats.c, from the definitions.

Wilson score interval (Wilson 1927): centre (p + z^2/2n) / (1 + z^2/n),
half-width z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
McNemar's exact test: two-sided binomial on the discordant pairs,
p = min(1, 2 * sum_{i <= min(b,c)} C(b+c, i) / 2^(b+c)), in exact fractions.
Run: /usr/bin/python3 tests/reference/stats_ref.py
"""
from fractions import Fraction
from math import comb, sqrt
from statistics import NormalDist

Z = NormalDist().inv_cdf(0.975)


def wilson(k, n, z=Z):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar(b, c):
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(Fraction(comb(n, i), 2 ** n) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), 2 * tail))


if __name__ == "__main__":
    print("z", repr(Z))
    for k, n in [(85, 100), (0, 10), (10, 10), (1, 3), (512, 1000), (7, 250)]:
        lo, hi = wilson(k, n)
        print("wilson", k, n, repr(lo), repr(hi))
    for b, c in [(3, 12), (0, 0), (5, 5), (0, 7), (1, 1), (40, 62), (300, 370), (0, 1)]:
        print("mcnemar", b, c, repr(mcnemar(b, c)))
