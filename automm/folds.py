"""How the training rows are split for bagging: k folds (stratified, or whole groups at a time), one
hold-out split, or the user's own folds; with several bag sets, one split per set, each with its own
seed. Every split is a list of (train rows, validation rows) position pairs."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, train_test_split


def make_folds(y: np.ndarray, problem_type: str, n_folds: int, seed: int, holdout_frac: float = 0.2,
               groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train, validation) index pairs; n_folds < 2 means one hold-out split of `holdout_frac`.
    groups: rows of one group never sit on both sides of a split (GroupKFold)."""
    idx = np.arange(len(y))
    stratify = problem_type != "regression"
    if groups is not None:
        return _group_folds(y, stratify, max(n_folds, 2) if n_folds >= 2 else _holdout_k(holdout_frac), seed,
                            groups, single=n_folds < 2)
    if n_folds >= 2:
        if stratify and np.bincount(y).min() >= n_folds:
            return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(idx, y))
        return list(KFold(n_folds, shuffle=True, random_state=seed).split(idx))
    n_val = int(np.ceil(len(y) * holdout_frac))
    strat = y if stratify and np.bincount(y).min() >= 2 and n_val >= len(np.unique(y)) else None
    tr, va = train_test_split(idx, test_size=holdout_frac, random_state=seed, stratify=strat)
    return [(np.sort(tr), np.sort(va))]


def _holdout_k(holdout_frac: float) -> int:
    """The k of a k-fold split one fold of which is about `holdout_frac` of the rows."""
    return max(2, int(round(1 / holdout_frac)))


def _group_folds(y, stratify: bool, k: int, seed: int, groups: np.ndarray, single: bool):
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError("groups has a single group: a split by group needs at least 2")
    k = min(k, n_groups)
    idx = np.arange(len(y))
    if stratify and np.bincount(y).min() >= k:
        folds = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, groups))
    else:
        folds = list(GroupKFold(k, shuffle=True, random_state=seed).split(idx, y, groups))
    return folds[:1] if single else folds


def bag_sets(y: np.ndarray, problem_type: str, n_folds: int, seed: int, n_sets: int, holdout_frac: float,
             groups: np.ndarray | None) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """One split per bag set, each shuffled with its own seed (repeated k-fold)."""
    return [make_folds(y, problem_type, n_folds, seed + s, holdout_frac, groups) for s in range(n_sets)]


def user_folds(folds, kept: np.ndarray, n_rows: int, y: np.ndarray, groups: np.ndarray | None
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The user's own folds, over the rows kept for training (those with a label).

    folds: a scikit-learn splitter (KFold, GroupKFold, TimeSeriesSplit, ...: its split(X, y, groups)
    runs on the kept rows); a fold number per row of train_data (a row's fold validates it; -1 keeps
    a row in training only); or a list of (train positions, validation positions) of train_data."""
    if hasattr(folds, "split"):
        pairs = list(folds.split(np.zeros((len(kept), 1)), y, groups))
    else:
        pairs = _pairs(folds, n_rows)
        new = np.full(n_rows, -1)
        new[kept] = np.arange(len(kept))  # positions in train_data -> in the kept rows
        pairs = [(new[tr][new[tr] >= 0], new[va][new[va] >= 0]) for tr, va in pairs]
    for i, (tr, va) in enumerate(pairs):
        if len(tr) == 0 or len(va) == 0:
            raise ValueError(f"folds: split {i} has no {'training' if len(tr) == 0 else 'validation'} rows "
                             "(after dropping rows whose label is missing)")
        if np.intersect1d(tr, va).size:
            raise ValueError(f"folds: split {i} has rows on both its training and its validation side")
    if len(pairs) > 1:
        counts = np.bincount(np.concatenate([va for _, va in pairs]), minlength=len(kept))
        if counts.max() > 1:
            raise ValueError("folds: a row is in the validation side of two splits; each row may validate once "
                             "(for repeated splits use num_bag_sets)")
    return [(np.sort(np.asarray(tr)), np.sort(np.asarray(va))) for tr, va in pairs]


def _pairs(folds, n_rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(folds, (list, tuple)) and folds and all(isinstance(f, (list, tuple)) and len(f) == 2 for f in folds):
        pairs = [(np.asarray(tr, dtype=int), np.asarray(va, dtype=int)) for tr, va in folds]
        bad = [i for i, (tr, va) in enumerate(pairs) if np.r_[tr, va].size and
               (np.r_[tr, va].min() < 0 or np.r_[tr, va].max() >= n_rows)]
        if bad:
            raise ValueError(f"folds: split {bad[0]} names row positions outside train_data's {n_rows} rows")
        return pairs
    ids = np.asarray(folds)
    if ids.ndim != 1 or len(ids) != n_rows:
        raise ValueError(f"folds must be a scikit-learn splitter, a fold number for each of train_data's {n_rows} "
                         "rows, or a list of (train positions, validation positions)")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"folds as fold numbers must be whole numbers (-1: training only), not {ids.dtype}")
    return [(np.flatnonzero(ids != f), np.flatnonzero(ids == f)) for f in np.unique(ids[ids >= 0])]


def covered(folds) -> np.ndarray:
    """The rows some fold validates: those with out-of-fold predictions."""
    return np.unique(np.concatenate([va for _, va in folds]))
