"""scikit-learn estimators: AutoMMClassifier and AutoMMRegressor.

They follow the estimator contract (parameters stored as given, `fit` returns self, fitted state
ends in `_`), so they work in `Pipeline`, `cross_val_score` and `GridSearchCV`. X may be a
DataFrame with text, category and number columns, or any 2-D array.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight as _sk_check_sample_weight
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from .predictor import MultimodalPredictor
from .validation import as_frame

LABEL = "__automm_label__"


class _AutoMMBase(BaseEstimator):
    _problem_types: tuple[str, ...] = ()

    def __init__(self, time_limit=None, presets="fast", eval_metric=None, column_types=None,
                 hyperparameters=None, random_state=0, num_threads=None, verbose=0, hyperparameter_tune=False,
                 n_jobs=None):
        """random_state: an int (None: 0, so that fits repeat; a RandomState draws one). verbose: the
        predictor's verbosity (0 silent). n_jobs: fold fits at once in worker processes, as in
        scikit-learn (None: 1, -1: one per core); keep it at None inside a GridSearchCV that runs in
        parallel itself."""
        self.time_limit = time_limit
        self.presets = presets
        self.eval_metric = eval_metric
        self.column_types = column_types
        self.hyperparameters = hyperparameters
        self.random_state = random_state
        self.num_threads = num_threads
        self.verbose = verbose
        self.hyperparameter_tune = hyperparameter_tune
        self.n_jobs = n_jobs

    def _frame(self, X, fitting: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame) or hasattr(X, "to_pandas"):  # pandas, polars, Arrow
            df = as_frame(X).copy()
            df.columns = [str(c) for c in df.columns]
        else:  # scikit-learn's own checks and messages for arrays (sparse, complex, empty, 1-D)
            arr = check_array(X, dtype=None, ensure_all_finite="allow-nan", ensure_min_samples=2 if fitting else 1)
            df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
        if fitting:
            self.n_features_in_ = df.shape[1]
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        elif df.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {df.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return df.reset_index(drop=True)

    def fit(self, X, y, sample_weight=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        df = self._frame(X, fitting=True)
        y = column_or_1d(y, warn=True)
        if len(y) != len(df):
            raise ValueError(f"y has {len(y)} values but X has {len(df)} rows")
        label = LABEL
        while label in df.columns:  # never overwrite a column of the user's
            label = "_" + label
        df[label] = y
        problem_type = self._problem_type(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, df)
        self.predictor_ = MultimodalPredictor(label, problem_type=problem_type, eval_metric=self.eval_metric,
                                              column_types=self.column_types, verbosity=self.verbose,
                                              seed=_seed(self.random_state), num_threads=self.num_threads)
        workers = 1 if self.n_jobs is None else "auto" if self.n_jobs == -1 else self.n_jobs
        self.predictor_.fit(df, time_limit=self.time_limit, presets=self.presets,
                            hyperparameters=self.hyperparameters, hyperparameter_tune=self.hyperparameter_tune,
                            num_workers=workers, sample_weight=sample_weight)
        return self

    def predict(self, X):
        check_is_fitted(self, "predictor_")
        return self.predictor_.predict(self._frame(X, fitting=False)).to_numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = False
        return tags


class AutoMMClassifier(ClassifierMixin, _AutoMMBase):
    """Binary or multiclass classification with automm's ensemble."""

    def _problem_type(self, y):
        check_classification_targets(y)  # a continuous target is a mistake, not 500 classes
        n = len(pd.unique(y))
        if n < 2:
            raise ValueError(f"Classifier can't train when only one class is present (got {n} class)")
        return "binary" if n == 2 else "multiclass"

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        self.classes_ = np.asarray(self.predictor_.classes_.tolist())
        return self

    def predict(self, X):
        return super().predict(X).astype(self.classes_.dtype)

    def predict_proba(self, X):
        check_is_fitted(self, "predictor_")
        return self.predictor_.predict_proba(self._frame(X, fitting=False)).to_numpy()


class AutoMMRegressor(RegressorMixin, _AutoMMBase):
    """Regression with automm's ensemble."""

    def _problem_type(self, y):
        return "regression"

    def fit(self, X, y, sample_weight=None):
        return super().fit(X, None if y is None else np.asarray(y, dtype=float), sample_weight)


def _seed(random_state) -> int:
    if random_state is None:
        return 0
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(2**31 - 1))


def _check_sample_weight(sample_weight, df: pd.DataFrame) -> np.ndarray:
    """scikit-learn's checks and messages (shape, numbers, finite); automm's (>= 0, not all 0) follow in fit."""
    w = _sk_check_sample_weight(sample_weight, np.zeros((len(df), 1)), ensure_non_negative=True)
    if not np.any(w > 0):
        raise ValueError("sample_weight is 0 for every row: nothing would count")
    return w
