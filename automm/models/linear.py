"""Regularised linear models on the sparse view: strong on TF-IDF text, fast, and a good stacker."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from ..features import FeatureSet
from ..search import SPACES
from .base import BaseModel, FitRecord, Task, expand_classes, model_file, time_left, to_matrix

# The strength (C for logistic, 1/alpha for ridge) is searched on the first fold from the most
# regularised end, which is also the fastest to fit, and the search stops once the score drops.
GRID = (0.0625, 0.25, 1.0, 4.0, 16.0)
MAX_ITER = 500


class LinearModel(BaseModel):
    name = "linear"

    @classmethod
    def check_params(cls, params: dict) -> None:
        unknown = sorted(set(params) - {"C"})
        if unknown:
            raise ValueError(f"hyperparameters['linear'] has unknown parameters {unknown}; it takes only C "
                             "(the inverse regularisation strength; searched on the first fold when not given)")
        c = params.get("C")
        if c is not None and not isinstance(c, SPACES) and not (isinstance(c, (int, float)) and c > 0):
            raise ValueError(f"hyperparameters['linear']['C'] must be a positive number, not {c!r}")

    def _fit_one(self, X, y, strength: float, task: Task, deadline: float = float("inf"), weight=None):
        if task.is_regression:
            m = Ridge(alpha=1.0 / strength, solver="lsqr", tol=1e-4)  # 2-3x faster than sparse_cg on TF-IDF
            return m.fit(X, (y - self.y_mean_) / self.y_std_, sample_weight=weight)
        if task.is_binary:
            m = LogisticRegression(C=strength, solver="liblinear", max_iter=MAX_ITER, random_state=task.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return m.fit(X, y, sample_weight=weight)
        # many classes on wide data can take minutes (half a second an iteration for 200 classes on 21k
        # TF-IDF columns): with a deadline, lbfgs first runs 2 iterations to learn their cost, then
        # resumes (warm start) for as many as the time left allows, keeping what it reached
        m = LogisticRegression(C=strength, solver="lbfgs", warm_start=True, random_state=task.seed)
        step = MAX_ITER if deadline == float("inf") else 2
        m.total_iter_ = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            while True:
                t0 = time.monotonic()
                m.set_params(max_iter=step).fit(X, y, sample_weight=weight)
                ran = int(m.n_iter_.max())
                m.total_iter_ += ran
                per_iter = (time.monotonic() - t0) / max(ran, 1)
                left = deadline - time.monotonic()
                if ran < step or m.total_iter_ >= MAX_ITER or left < per_iter:
                    break
                step = int(min(MAX_ITER - m.total_iter_, max(1, 0.9 * left / per_iter)))
        return m

    def fit(self, X: FeatureSet, y, X_val: FeatureSet | None, y_val, task: Task, deadline: float, monitor=None):
        """monitor: accepted for the search's sake (C as a search space); the solver reports no steps."""
        self._task = task
        self.y_mean_, self.y_std_ = (float(np.mean(y)), float(np.std(y)) or 1.0) if task.is_regression \
            else (0.0, 1.0)
        grid = [self.params["C"]] if "C" in self.params else GRID if X_val is not None else [1.0]
        best, started = None, 0
        for strength in grid:
            # the first fit always runs; later ones only while there is time for one more like it
            if started and time_left(deadline) < started:
                break
            t0 = time.monotonic()
            m = self._fit_one(X.linear, y, strength, task, deadline, X.weight)
            self._store(m, task)
            if X_val is None:
                best = (0.0, strength, self.coef_, self.intercept_)
                break
            score = task.metric.score(y_val, self.predict(X_val), X_val.weight)
            started = time.monotonic() - t0
            if best is not None and task.metric.sign * score <= task.metric.sign * best[0]:
                break
            best = (score, strength, self.coef_, self.intercept_)
        _, strength, self.coef_, self.intercept_ = best
        self.info = FitRecord(tuned={"C": strength}, extra={"solver_iterations": int(getattr(m, "total_iter_", 0))})
        return self

    def _store(self, m, task: Task):
        coef = np.atleast_2d(m.coef_).astype(np.float64)
        intercept = np.atleast_1d(m.intercept_).astype(np.float64)
        if task.is_multiclass:  # classes missing from this fold get no weight
            full_c = np.zeros((task.n_classes, coef.shape[1]))
            full_i = np.full(task.n_classes, -1e9)
            present = m.classes_.astype(int)
            full_c[present], full_i[present] = coef, intercept
            coef, intercept = full_c, full_i
        self.coef_, self.intercept_ = coef, intercept

    def decision_function(self, X: FeatureSet) -> np.ndarray:
        """(n, 1) log-odds of the positive class, (n, K) class scores, or (n, 1) values: the scale on which
        the model is linear in its inputs."""
        z = np.asarray(X.linear @ self.coef_.T) + self.intercept_
        t = self._task
        if t.problem_type == "regression":
            return z[:, :1] * self.y_std_ + self.y_mean_
        return z[:, :1] if t.problem_type == "binary" else z

    def predict(self, X: FeatureSet) -> np.ndarray:
        z = np.asarray(X.linear @ self.coef_.T) + self.intercept_
        t = self._task
        if t.problem_type == "regression":
            return to_matrix(z[:, 0] * self.y_std_ + self.y_mean_, t)
        if t.problem_type == "binary":
            return to_matrix(expit(z[:, 0]), t)
        return expand_classes(softmax(z, axis=1), np.arange(t.n_classes), t.n_classes)

    def save(self, prefix: Path) -> list[str]:
        path = model_file(prefix, ".linear.npz")
        np.savez(path, coef=self.coef_, intercept=self.intercept_, y=np.array([self.y_mean_, self.y_std_]))
        return [path.name]

    @classmethod
    def load(cls, prefix: Path, info: FitRecord, task: Task):
        obj = cls()
        with np.load(model_file(prefix, ".linear.npz"), allow_pickle=False) as z:
            obj.coef_, obj.intercept_ = z["coef"], z["intercept"]
            obj.y_mean_, obj.y_std_ = float(z["y"][0]), float(z["y"][1])
        obj.info, obj._task = info, task
        return obj
