"""Disentanglement of a latent code against discrete ground-truth factors: MIG, DCI and SAP.

* **MIG** (Chen et al. 2018): for each factor, the gap between the two largest mutual
  informations of a (histogram-discretised) latent dimension with the factor, normalised by the
  factor's entropy; averaged over factors.
* **DCI** (Eastwood & Williams 2018): an importance matrix R (latent dims × factors) from one
  random-forest classifier per factor. Disentanglement = importance-weighted mean over dims of
  ``1 − H_K(row)``; completeness = mean over factors of ``1 − H_D(column)``; informativeness =
  mean held-out accuracy of those classifiers.
* **SAP** (Kumar et al. 2018): a score matrix of held-out accuracies of predicting each factor
  from each single latent dimension (a shallow decision tree per dim); SAP = mean over factors of
  the gap between the best and second-best dimension.

All functions take arrays and return numbers: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def _discretise(codes: np.ndarray, bins: int) -> np.ndarray:
    """Histogram-discretise each latent dimension into ``bins`` equal-width bins.

    Args:
        codes: (N, D) latent codes.
        bins: number of bins per dimension.

    Returns:
        (N, D) int bin indices.
    """
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        lo, hi = codes[:, j].min(), codes[:, j].max()
        if hi > lo:
            edges = np.linspace(lo, hi, bins + 1)[1:-1]
            out[:, j] = np.digitize(codes[:, j], edges)
    return out


def _entropy(labels: np.ndarray) -> float:
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information_matrix(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> np.ndarray:
    """Mutual information (nats) between each discretised latent dim and each factor.

    Args:
        codes: (N, D) latent codes.
        factors: (N, K) integer factor labels.
        bins: histogram bins per latent dimension.

    Returns:
        (D, K) mutual informations.
    """
    from sklearn.metrics import mutual_info_score

    z = _discretise(np.asarray(codes, dtype=np.float64), bins)
    return np.array(
        [
            [mutual_info_score(factors[:, k], z[:, j]) for k in range(factors.shape[1])]
            for j in range(z.shape[1])
        ]
    )


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> float:
    """Mutual information gap in [0, 1] (1 = each factor captured by exactly one dimension).

    Args:
        codes: (N, D) latent codes, D >= 1.
        factors: (N, K) integer factor labels.
        bins: histogram bins per latent dimension.
    """
    mi = mutual_information_matrix(codes, factors, bins)  # (D, K)
    gaps = []
    for k in range(factors.shape[1]):
        h = _entropy(factors[:, k])
        if h <= 0:
            continue
        top = np.sort(mi[:, k])[::-1]
        second = top[1] if len(top) > 1 else 0.0
        gaps.append((top[0] - second) / h)
    return float(np.mean(gaps)) if gaps else 0.0


@dataclass(frozen=True)
class DCIScores:
    """Disentanglement, completeness and informativeness (all in [0, 1])."""

    disentanglement: float
    completeness: float
    informativeness: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict."""
        return asdict(self)


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return perm[n_test:], perm[:n_test]


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    test_fraction: float = 0.3,
    seed: int = 0,
    n_estimators: int = 50,
) -> DCIScores:
    """DCI scores with random-forest importances.

    Args:
        codes: (N, D) latent codes.
        factors: (N, K) integer factor labels.
        test_fraction: share of samples held out for informativeness.
        seed: seed of the split and the forests.
        n_estimators: trees per forest.
    """
    from sklearn.ensemble import RandomForestClassifier

    codes = np.asarray(codes, dtype=np.float64)
    train, test = _split(len(codes), test_fraction, seed)
    d, k = codes.shape[1], factors.shape[1]
    importance = np.zeros((d, k))
    accs = []
    for f in range(k):
        clf = RandomForestClassifier(
            n_estimators=n_estimators, max_features=None, random_state=seed, n_jobs=1
        )
        clf.fit(codes[train], factors[train, f])
        importance[:, f] = clf.feature_importances_
        accs.append(clf.score(codes[test], factors[test, f]))
    importance = np.abs(importance)

    def _norm_entropy(p: np.ndarray, base: int) -> float:
        p = p / p.sum() if p.sum() > 0 else np.full_like(p, 1.0 / len(p))
        p = p[p > 0]
        return float(-(p * np.log(p)).sum() / np.log(base)) if base > 1 else 0.0

    total = importance.sum()
    if total <= 0:  # nothing predictive at all (e.g. a constant code)
        return DCIScores(0.0, 0.0, float(np.mean(accs)))
    dis_per_dim = np.array([1.0 - _norm_entropy(importance[j], k) for j in range(d)])
    weights = importance.sum(1) / total
    com_per_factor = np.array([1.0 - _norm_entropy(importance[:, f], d) for f in range(k)])
    return DCIScores(
        disentanglement=float((dis_per_dim * weights).sum()),
        completeness=float(com_per_factor.mean()),
        informativeness=float(np.mean(accs)),
    )


def sap(codes: np.ndarray, factors: np.ndarray, test_fraction: float = 0.3, seed: int = 0) -> float:
    """Separated attribute predictability in [0, 1].

    Args:
        codes: (N, D) latent codes.
        factors: (N, K) integer factor labels.
        test_fraction: share of samples held out for scoring.
        seed: seed of the split.
    """
    from sklearn.tree import DecisionTreeClassifier

    codes = np.asarray(codes, dtype=np.float64)
    train, test = _split(len(codes), test_fraction, seed)
    d, k = codes.shape[1], factors.shape[1]
    score = np.zeros((d, k))
    for f in range(k):
        n_classes = len(np.unique(factors[:, f]))
        depth = int(np.ceil(np.log2(max(n_classes, 2)))) + 1
        for j in range(d):
            clf = DecisionTreeClassifier(max_depth=depth, random_state=seed)
            clf.fit(codes[train, j : j + 1], factors[train, f])
            score[j, f] = clf.score(codes[test, j : j + 1], factors[test, f])
    gaps = []
    for f in range(k):
        top = np.sort(score[:, f])[::-1]
        gaps.append(top[0] - (top[1] if d > 1 else 0.0))
    return float(np.mean(gaps))
