"""CatBoost on the core of the dense view (no n-gram block: it is slow on wide data)."""
from __future__ import annotations

from pathlib import Path

import catboost as cb
import numpy as np
import pandas as pd

from ..features import FeatureSet
from ..metrics import library_metric
from ..search import Int, Real
from .base import (
    BaseModel,
    DeadlineCallback,
    FitRecord,
    Monitor,
    Task,
    bad_params,
    expand_classes,
    fixed_params,
    model_file,
    tiny_data,
    to_matrix,
)

LOSSES = {"binary": "Logloss", "multiclass": "MultiClass", "regression": "RMSE"}
PATIENCE = 50


class CatBoostModel(BaseModel):
    name = "catboost"
    rounds_param = "iterations"  # refit_full sets it to the folds' mean best iteration
    report_every, prune_after = 10, 100
    search_space = {"learning_rate": Real(0.02, 0.2, log=True, default=0.06), "depth": Int(4, 8, default=6),
                    "l2_leaf_reg": Real(1.0, 10.0, log=True, default=3.0)}

    @classmethod
    def check_params(cls, params: dict) -> None:
        X, y = tiny_data()
        plain = fixed_params(params, ("iterations", "loss_function", "eval_metric"))
        try:
            cb.CatBoost({"iterations": 1, "loss_function": "Logloss", "thread_count": 1, "verbose": False,
                         "allow_writing_files": False, **plain}).fit(X, y)
        except (cb.CatBoostError, TypeError, ValueError) as exc:
            raise bad_params("catboost", exc) from exc

    @staticmethod
    def _frame(X: FeatureSet) -> pd.DataFrame:
        # CatBoost wants categorical columns as integers or strings, so missing codes become -1
        df = pd.DataFrame(X.dense[:, : X.n_core], columns=[f"f{i}" for i in range(X.n_core)])
        for i in X.cat_cols:
            df[f"f{i}"] = np.nan_to_num(X.dense[:, i], nan=-1).astype(np.int64)
        return df

    def fit(self, X: FeatureSet, y, X_val: FeatureSet | None, y_val, task: Task, deadline: float,
            monitor: Monitor | None = None):
        self._task = task
        eval_metric = library_metric("catboost", task.metric, task.problem_type, LOSSES[task.problem_type])
        params = {"iterations": 10_000, "learning_rate": 0.06, "depth": 6, "loss_function": LOSSES[task.problem_type],
                  "eval_metric": eval_metric, "thread_count": task.num_threads, "random_seed": task.seed,
                  "allow_writing_files": False, "verbose": False, "use_best_model": True, **self.params}
        stopper = DeadlineCallback(deadline, PATIENCE, higher_better=eval_metric == "AUC", monitor=monitor)

        class Stop:
            def after_iteration(self, info):
                score = info.metrics["validation"][eval_metric][-1] if "validation" in info.metrics else None
                return not stopper.update(info.iteration, score)

        if X_val is None:
            params["use_best_model"] = False
        est = cb.CatBoostRegressor(**params) if task.is_regression else cb.CatBoostClassifier(**params)
        cats = [f"f{i}" for i in X.cat_cols]
        est.fit(cb.Pool(self._frame(X), y, cat_features=cats, weight=X.weight),
                eval_set=None if X_val is None else cb.Pool(self._frame(X_val), y_val, cat_features=cats,
                                                             weight=X_val.weight), callbacks=[Stop()])
        self.model_ = est
        self.info = FitRecord(int(est.tree_count_), stopper.hit_deadline)
        return self

    def predict(self, X: FeatureSet) -> np.ndarray:
        if self._task.is_regression:
            return to_matrix(self.model_.predict(self._frame(X)), self._task)
        proba = self.model_.predict_proba(self._frame(X))
        present = np.asarray(self.model_.classes_).astype(int)
        return expand_classes(proba, present, self._task.n_classes)

    def shap_values(self, X: FeatureSet) -> np.ndarray:
        """TreeSHAP of a regression model on the core features: (n, n_core + 1), the last column the
        expected value."""
        pool = cb.Pool(self._frame(X), cat_features=[f"f{i}" for i in X.cat_cols])
        return np.asarray(self.model_.get_feature_importance(pool, type="ShapValues"), dtype=np.float64)

    def save(self, prefix: Path) -> list[str]:
        path = model_file(prefix, ".cbm")
        self.model_.save_model(str(path), format="cbm")
        return [path.name]

    @classmethod
    def load(cls, prefix: Path, info: FitRecord, task: Task):
        obj = cls()
        model = cb.CatBoostRegressor() if task.is_regression else cb.CatBoostClassifier()
        obj.model_ = model.load_model(str(model_file(prefix, ".cbm")), format="cbm")
        obj.info, obj._task = info, task
        return obj
