"""The mutual information gap (MIG) between latent dimensions and ground-truth factors.

Chen et al. 2018 ("Isolating sources of disentanglement"), estimated as in
disentanglement_lib (Locatello et al. 2019): posterior means and factors are
discretised into equal-width bins, the discrete mutual information I(z_d; v_k)
is computed for every pair, and for each factor the gap between its best and
second-best latent, divided by the factor's entropy H(v_k), is averaged:

    MIG = (1/K) Σ_k (I(z_{j_k}; v_k) − max_{j ≠ j_k} I(z_j; v_k)) / H(v_k).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mutual_info_score

N_BINS = 20  # disentanglement_lib's default for discretising latent means


@dataclass
class MIGResult:
    mig: float  # mean normalised gap over factors with non-zero entropy, in [0, 1]
    gaps: np.ndarray  # (K,) normalised gap per factor (NaN for a constant factor)
    mi: np.ndarray  # (D, K) I(z_d; v_k), nats
    entropy: np.ndarray  # (K,) H(v_k), nats
    factor_names: list[str]

    @property
    def normalized(self) -> np.ndarray:
        """(D, K) I(z_d; v_k) / H(v_k): the share of factor k's entropy that z_d captures."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.entropy > 0, self.mi / self.entropy, 0.0)

    def best_factor(self) -> tuple[np.ndarray, np.ndarray]:
        """Per dimension, the index of the factor it captures best (by normalised MI) and that share."""
        nm = self.normalized
        return nm.argmax(1), nm.max(1)


def discretize(v: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """(N, K) values -> (N, K) integer codes. A column with at most n_bins distinct values
    (a categorical factor) keeps one code per value; others get n_bins equal-width bins."""
    v = np.asarray(v, dtype=np.float64)
    out = np.empty(v.shape, dtype=np.int64)
    for k in range(v.shape[1]):
        col = v[:, k]
        values, codes = np.unique(col, return_inverse=True)
        if len(values) <= n_bins:
            out[:, k] = codes
        else:
            out[:, k] = np.digitize(col, np.histogram(col, n_bins)[1][:-1])
    return out


def mig(mu, factors, factor_names: list[str] | None = None, n_bins: int = N_BINS) -> MIGResult:
    """MIG of posterior means mu: (N, D) against ground-truth factors: (N, K)."""
    mu, factors = np.asarray(mu), np.asarray(factors)
    if mu.ndim != 2 or factors.ndim != 2 or len(mu) != len(factors):
        raise ValueError(f"mu (N, D) and factors (N, K) must have the same N, got {mu.shape} and {factors.shape}")
    if mu.shape[1] < 2:
        raise ValueError("MIG needs at least two latent dimensions (it is a gap between the best two)")
    zc, vc = discretize(mu, n_bins), discretize(factors, n_bins)
    d, k = zc.shape[1], vc.shape[1]
    mi = np.array([[mutual_info_score(vc[:, j], zc[:, i]) for j in range(k)] for i in range(d)])
    entropy = np.array([mutual_info_score(vc[:, j], vc[:, j]) for j in range(k)])
    top2 = -np.sort(-mi, axis=0)[:2]  # (2, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = np.where(entropy > 0, (top2[0] - top2[1]) / entropy, np.nan)
    valid = ~np.isnan(gaps)
    names = list(factor_names) if factor_names is not None else [f"factor {j}" for j in range(k)]
    return MIGResult(float(gaps[valid].mean()) if valid.any() else float("nan"), gaps, mi, entropy, names)


# ---------------------------------------------------------------- shared helpers

def _check_codes(mu, factors) -> tuple[np.ndarray, np.ndarray]:
    mu, factors = np.asarray(mu, dtype=np.float64), np.asarray(factors, dtype=np.float64)
    if mu.ndim != 2 or factors.ndim != 2 or len(mu) != len(factors):
        raise ValueError(f"mu (N, D) and factors (N, K) must have the same N, got {mu.shape} and {factors.shape}")
    if len(mu) < 20:
        raise ValueError(f"these scores need at least 20 points, not {len(mu)}")
    if not (np.isfinite(mu).all() and np.isfinite(factors).all()):
        raise ValueError("codes and factors must be finite")
    return mu, factors


def is_discrete(col: np.ndarray, max_values: int = N_BINS) -> bool:
    """A factor with at most ``max_values`` distinct values is treated as categorical."""
    return len(np.unique(col)) <= max_values


def _split(n: int, seed: int, train_frac: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * train_frac))
    return perm[:k], perm[k:]


def _entropy(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    """Entropy of distributions along ``axis`` in log base ``base`` (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis) / np.log(base)


# ---------------------------------------------------------------- DCI

# The importance model. Eastwood & Williams (2018) used lasso and random forests;
# disentanglement_lib uses scikit-learn's gradient-boosted trees with their defaults (100
# trees of depth 3 per factor, classifiers on binned factors). That costs about 20 s for
# 5,000 points and 5 factors on 2 cores, so here: gradient-boosted *regression* trees, 50 of
# depth 3 with learning rate 0.2 and row subsampling 0.5 (stochastic gradient boosting,
# Friedman 2002), fitted to each factor standardised: the same model family and its impurity
# importances, about a tenth of the cost.
DCI_TREES, DCI_DEPTH, DCI_LR, DCI_SUBSAMPLE = 50, 3, 0.2, 0.5


@dataclass
class DCIResult:
    disentanglement: float  # Σ_d ρ_d (1 − H_K(P_d·)), in [0, 1]
    completeness: float  # mean_k (1 − H_D(P̃_·k)), in [0, 1]
    informativeness: float  # mean over factors of the held-out R² of the importance model, clipped to [0, 1]
    importance: np.ndarray  # (D, K) R_dk: importance of latent d for predicting factor k
    per_dim: np.ndarray  # (D,) disentanglement of each latent
    per_factor: np.ndarray  # (K,) completeness of each factor
    r2: np.ndarray  # (K,) held-out R² per factor
    factor_names: list[str]


def dci(mu, factors, factor_names: list[str] | None = None, seed: int = 0,
        n_trees: int = DCI_TREES, baseline: bool = False) -> DCIResult:
    """DCI (Eastwood & Williams 2018) of codes mu: (N, D) against factors: (N, K).

    One gradient-boosted regressor per factor (80 % of the points to fit, 20 % held out) gives
    the importance matrix R (D, K). Disentanglement: per latent d, 1 minus the entropy (base K)
    of its importances over factors, weighted by its share of the total importance.
    Completeness: per factor k, 1 minus the entropy (base D) of its importances over latents,
    averaged over factors. Informativeness: the held-out R² of the regressors (1: perfectly
    predicted), where the paper reports the error; clipped at 0. ``baseline``: scikit-learn's
    default boosting instead (learning rate 0.1, every row per tree), for the benchmark.
    """
    from sklearn.ensemble import GradientBoostingRegressor

    mu, factors = _check_codes(mu, factors)
    n, d = mu.shape
    k = factors.shape[1]
    if d < 2 or k < 2:
        raise ValueError("DCI needs at least two latent dimensions and two factors (entropies are over them)")
    tr, te = _split(n, seed)
    imp = np.zeros((d, k))
    r2 = np.zeros(k)
    for j in range(k):
        y = factors[:, j]
        sd = y[tr].std()
        if sd == 0:
            r2[j] = np.nan
            continue
        y = (y - y[tr].mean()) / sd
        model = GradientBoostingRegressor(n_estimators=n_trees, max_depth=DCI_DEPTH, random_state=seed,
                                          **({} if baseline else dict(learning_rate=DCI_LR, subsample=DCI_SUBSAMPLE)))
        model.fit(mu[tr], y[tr])
        imp[:, j] = np.abs(model.feature_importances_)
        r2[j] = max(0.0, float(model.score(mu[te], y[te])))
    valid = imp.sum(0) > 0
    total = imp.sum()
    row = imp.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_dim = np.where(row[:, None] > 0, imp / row[:, None], 0.0)
        per_dim = np.where(row > 0, 1.0 - _entropy(p_dim, k, 1), 0.0)
        rho = row / total if total > 0 else np.zeros(d)
        col = imp.sum(0)
        p_fac = np.where(col[None] > 0, imp / col[None], 0.0)
        per_factor = np.where(valid, 1.0 - _entropy(p_fac, d, 0), np.nan)
    names = list(factor_names) if factor_names is not None else [f"factor {j}" for j in range(k)]
    return DCIResult(float((rho * per_dim).sum()), float(np.nanmean(per_factor)) if valid.any() else float("nan"),
                     float(np.nanmean(r2)) if valid.any() else float("nan"), imp, per_dim, per_factor, r2, names)


# ---------------------------------------------------------------- SAP

SAP_SVM_C = 0.01  # disentanglement_lib's LinearSVC regularisation for categorical factors


@dataclass
class SAPResult:
    sap: float  # mean over factors of (best − second-best score), in [0, 1]
    scores: np.ndarray  # (D, K) how well latent d alone predicts factor k
    gaps: np.ndarray  # (K,) per-factor gap
    factor_names: list[str]


def sap(mu, factors, factor_names: list[str] | None = None, seed: int = 0) -> SAPResult:
    """The Separated Attribute Predictability score (Kumar et al. 2018). mu: (N, D), factors: (N, K).

    For each latent d and factor k a score from z_d alone: a continuous factor, the R² of a
    linear regression (the squared correlation, on all points, as in the paper); a categorical
    factor (≤ 20 values), the held-out balanced accuracy of a linear SVM (C = 0.01, as in
    disentanglement_lib) rescaled so that chance is 0. SAP is the mean over factors of the gap
    between the two best latents' scores.
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.svm import LinearSVC

    mu, factors = _check_codes(mu, factors)
    n, d = mu.shape
    k = factors.shape[1]
    if d < 2:
        raise ValueError("SAP needs at least two latent dimensions (it is a gap between the best two)")
    tr, te = _split(n, seed)
    scores = np.zeros((d, k))
    for j in range(k):
        y = factors[:, j]
        if np.unique(y).size < 2:
            scores[:, j] = np.nan
            continue
        if is_discrete(y):
            classes = np.unique(y[tr])
            chance = 1.0 / max(len(np.unique(y)), 1)
            for i in range(d):
                x = mu[:, i:i + 1]
                if x[tr].std() == 0 or len(classes) < 2:
                    continue
                x = (x - x[tr].mean()) / x[tr].std()
                clf = LinearSVC(C=SAP_SVM_C, class_weight="balanced", random_state=seed).fit(x[tr], y[tr])
                acc = balanced_accuracy_score(y[te], clf.predict(x[te]))
                scores[i, j] = max(0.0, (acc - chance) / (1 - chance))
        else:
            zc = mu - mu.mean(0)
            yc = y - y.mean()
            cov = zc.T @ yc / n
            var = zc.var(0)
            with np.errstate(divide="ignore", invalid="ignore"):
                scores[:, j] = np.where(var > 0, cov ** 2 / (var * yc.var()), 0.0)
    valid = ~np.isnan(scores).any(0)
    top2 = -np.sort(-np.nan_to_num(scores), axis=0)[:2]
    gaps = np.where(valid, top2[0] - top2[1], np.nan)
    names = list(factor_names) if factor_names is not None else [f"factor {j}" for j in range(k)]
    return SAPResult(float(np.nanmean(gaps)) if valid.any() else float("nan"), scores, gaps, names)


# ---------------------------------------------------------------- FactorVAE score

FVAE_BATCH = 64  # points sharing the fixed factor's value per vote (disentanglement_lib)
FVAE_TRAIN, FVAE_EVAL = 10_000, 5_000  # votes to fit the majority-vote classifier and to score it
FVAE_BINS = 10  # a continuous factor is "fixed" within one of this many equal-width bins
FVAE_PRUNE = 0.05  # latents whose variance over the data is below this are ignored (collapsed)


@dataclass
class FactorVAEResult:
    score: float  # held-out accuracy of the majority-vote classifier, in [chance, 1]
    train_accuracy: float
    votes: np.ndarray  # (D, K) training votes: how often latent d had the least variance when k was fixed
    chance: float  # accuracy of always guessing the most frequent factor
    active: np.ndarray  # (D,) bool: latents that took part (variance ≥ FVAE_PRUNE)
    factor_names: list[str]


def factor_vae_score(mu, factors, factor_names: list[str] | None = None, seed: int = 0,
                     batch: int = FVAE_BATCH, n_train: int = FVAE_TRAIN, n_eval: int = FVAE_EVAL,
                     n_bins: int = FVAE_BINS) -> FactorVAEResult:
    """The FactorVAE disentanglement metric (Kim & Mnih 2018), on a finite set of coded points.

    Each vote: pick a factor k, a value of it, and ``batch`` points sharing that value, drawn with
    replacement (a continuous factor's value is one of ``n_bins`` bins); divide their codes by each latent's
    standard deviation over all points and take the latent with the least variance. A
    majority-vote classifier maps each latent to the factor it most often voted for (on
    ``n_train`` votes); the score is its accuracy on ``n_eval`` fresh votes. Latents with
    variance below 0.05 (collapsed) are left out, as in the paper's code. The paper samples
    the generator with a factor fixed; here the points of a bin stand in for it, so a wide bin
    adds some variance to the fixed factor. Chance level is about 1/K, not 0.
    """
    mu, factors = _check_codes(mu, factors)
    n, d = mu.shape
    k = factors.shape[1]
    rng = np.random.default_rng(seed)
    var = mu.var(0)
    active = var >= FVAE_PRUNE
    names = list(factor_names) if factor_names is not None else [f"factor {j}" for j in range(k)]
    codes = discretize(factors, n_bins)
    groups = [[np.flatnonzero(codes[:, j] == b) for b in np.unique(codes[:, j])] for j in range(k)]
    groups = [[g for g in gs if len(g) >= 2] for gs in groups]
    usable = [j for j in range(k) if len(groups[j]) >= 2]  # a constant factor cannot be fixed
    if not active.any() or not usable:
        return FactorVAEResult(float("nan"), float("nan"), np.zeros((d, k)), float("nan"), active, names)
    scaled = mu[:, active] / np.sqrt(var[active])
    dims = np.flatnonzero(active)

    def votes(m: int) -> tuple[np.ndarray, np.ndarray]:
        """m votes: (the latent of least variance, the fixed factor). The votes of one (factor,
        value) are drawn together: (n, batch) rows of that value, drawn with replacement."""
        ks = rng.choice(usable, size=m)
        out = np.empty(m, dtype=np.int64)
        for j in usable:
            at = np.flatnonzero(ks == j)
            gi = rng.integers(len(groups[j]), size=len(at))
            for g_id in np.unique(gi):
                g, slots = groups[j][g_id], at[gi == g_id]
                idx = g[rng.integers(len(g), size=(len(slots), batch))]  # (n, batch)
                out[slots] = dims[np.argmin(scaled[idx].var(1), axis=1)]
        return out, ks

    dim_tr, k_tr = votes(n_train)
    table = np.zeros((d, k), dtype=np.int64)
    np.add.at(table, (dim_tr, k_tr), 1)
    guess = table.argmax(1)  # the majority vote of each latent
    train_acc = float(table.max(1).sum() / n_train)
    dim_ev, k_ev = votes(n_eval)
    score = float((guess[dim_ev] == k_ev).mean())
    chance = float(np.bincount(k_ev, minlength=k).max() / n_eval)
    return FactorVAEResult(score, train_acc, table, chance, active, names)


# ---------------------------------------------------------------- all four

@dataclass
class Scores:
    """The four scores of one set of codes, with the details each keeps."""
    mig: MIGResult
    dci: DCIResult
    sap: SAPResult
    factor_vae: FactorVAEResult

    def summary(self) -> dict[str, float]:
        return {"MIG": self.mig.mig, "DCI disentanglement": self.dci.disentanglement,
                "DCI completeness": self.dci.completeness, "DCI informativeness": self.dci.informativeness,
                "SAP": self.sap.sap, "FactorVAE": self.factor_vae.score}


def all_scores(mu, factors, factor_names: list[str] | None = None, seed: int = 0, progress=None) -> Scores:
    """MIG, DCI, SAP and the FactorVAE score of codes mu: (N, D) against factors: (N, K).
    ``progress(fraction, message)`` is called between the scores."""
    def say(f: float, m: str) -> None:
        if progress is not None:
            progress(f, m)
    say(0.0, "MIG")
    m = mig(mu, factors, factor_names)
    say(0.1, "DCI (gradient-boosted trees)")
    c = dci(mu, factors, factor_names, seed=seed)
    say(0.7, "SAP")
    s = sap(mu, factors, factor_names, seed=seed)
    say(0.8, "FactorVAE score")
    f = factor_vae_score(mu, factors, factor_names, seed=seed)
    say(1.0, "done")
    return Scores(m, c, s, f)
