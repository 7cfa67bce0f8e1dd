#!/usr/bin/python3
"""align_metrics.py: NumPy reference of the alignment metrics for tests/test_align_metrics.c
(Debian /usr/bin/python3 with numpy).

    align_metrics.py X.npy Y.npy K SIGMA      prints one JSON object of metrics

Written from the team's reference notes (METRICS.md) and platonic-rep's metrics.py, not
from the C code, in float64 and the direct way: rows are L2-normalised; kNN by
argsort of the similarity with the diagonal set to -1e8 (stable sort, so ties go
to the lower index); biased HSIC as trace(K H L H) with explicit H; unbiased
HSIC with explicit zero-diagonal copies and matrix products; RBF from pairwise
differences (SIGMA <= 0: torch.median of the non-zero squared distances, the
lower middle element); CKNNA with 0/1 masks.
"""
import json
import sys

import numpy as np


def knn(feats, k):
    s = feats @ feats.T
    np.fill_diagonal(s, -1e8)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def mutual_knn(a, b, k):
    n = a.shape[0]
    ka, kb = knn(a, k), knn(b, k)
    ma, mb = np.zeros((n, n)), np.zeros((n, n))
    rows = np.arange(n)[:, None]
    ma[rows, ka] = 1
    mb[rows, kb] = 1
    return float(((ma * mb).sum(axis=1) / k).mean())


def hsic_biased(k, l):
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h))


def hsic_unbiased(k, l):
    m = k.shape[0]
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    v = np.sum(kt * lt.T) + np.sum(kt) * np.sum(lt) / ((m - 1) * (m - 2)) - 2 * np.sum(kt @ lt) / (m - 2)
    return float(v / (m * (m - 3)))


def cka(k, l, unbiased=False):
    f = hsic_unbiased if unbiased else hsic_biased
    return f(k, l) / (np.sqrt(f(k, k) * f(l, l)) + 1e-6)


def rbf(feats, sigma):
    d2 = ((feats[:, None, :] - feats[None, :, :]) ** 2).sum(-1)
    if sigma <= 0:
        nz = np.sort(d2[d2 != 0])
        s2 = nz[(nz.size - 1) // 2]  # torch.median: the lower of the two middle values
    else:
        s2 = sigma * sigma
    return np.exp(-d2 / (2 * s2))


def cknna(a, b, k):
    n = a.shape[0]
    kk, ll = a @ a.T, b @ b.T

    def mask(m):
        h = m.copy()
        np.fill_diagonal(h, -np.inf)
        idx = np.argsort(-h, axis=1, kind="stable")[:, :k]
        out = np.zeros((n, n))
        out[np.arange(n)[:, None], idx] = 1
        return out

    mk, ml = mask(kk), mask(ll)

    def sim(m1, m2, x, y):
        mm = m1 * m2
        return hsic_unbiased(mm * x, mm * y)

    return sim(mk, ml, kk, ll) / (np.sqrt(sim(mk, mk, kk, kk) * sim(ml, ml, ll, ll)) + 1e-6)


def main():
    x = np.load(sys.argv[1]).astype(np.float64)
    y = np.load(sys.argv[2]).astype(np.float64)
    k, sigma = int(sys.argv[3]), float(sys.argv[4])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    out = {
        "mutual_knn": mutual_knn(x, y, k),
        "cka_linear": cka(x @ x.T, y @ y.T),
        "cka_rbf": cka(rbf(x, sigma), rbf(y, sigma)),
        "cka_unbiased": cka(x @ x.T, y @ y.T, unbiased=True),
        "cknna": cknna(x, y, k),
    }
    if x.shape[1] == y.shape[1]:
        n = x.shape[0]
        c = x @ y.T
        out["cos_matched"] = float(np.trace(c) / n)
        out["cos_mismatched"] = float((c.sum() - np.trace(c)) / (n * (n - 1)))
        out["modality_gap"] = float(np.linalg.norm(x.mean(0) - y.mean(0)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
