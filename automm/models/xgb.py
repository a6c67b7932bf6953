"""XGBoost (the CPU-only `xgboost-cpu` wheel) on the dense view, with native categorical splits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

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
    fixed_params,
    model_file,
    tiny_data,
    to_matrix,
)

OBJECTIVES = {"binary": ("binary:logistic", "logloss"), "multiclass": ("multi:softprob", "mlogloss"),
              "regression": ("reg:squarederror", "rmse")}
PATIENCE = 50


class XGBoostModel(BaseModel):
    name = "xgboost"
    rounds_param = "num_boost_round"  # refit_full sets it to the folds' mean best iteration
    report_every, prune_after = 10, 100
    search_space = {"eta": Real(0.01, 0.2, log=True, default=0.05), "max_depth": Int(3, 10, default=6),
                    "colsample_bytree": Real(0.3, 1.0, default=0.8),
                    "min_child_weight": Real(0.5, 20.0, log=True, default=1.0),
                    "lambda": Real(0.1, 10.0, log=True, default=1.0)}

    @classmethod
    def check_params(cls, params: dict) -> None:
        """XGBoost only warns that an unknown parameter "is not used": a dry run turns that into an error."""
        import warnings
        X, y = tiny_data()
        plain = fixed_params(params, ("num_boost_round", "objective", "num_class", "eval_metric"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                xgb.train({"objective": "binary:logistic", "nthread": 1, **plain, "verbosity": 1},
                          xgb.DMatrix(X, label=y), 1)
            except xgb.core.XGBoostError as exc:
                raise bad_params("xgboost", exc) from exc
        unused = [str(w.message) for w in caught if "are not used" in str(w.message)]
        if unused:
            names = unused[0][unused[0].find("{"):unused[0].find("}") + 1]
            raise ValueError(f"hyperparameters['xgboost'] has unknown parameters {names}; see "
                             "https://xgboost.readthedocs.io/en/stable/parameter.html")

    def _dmatrix(self, X: FeatureSet, y=None, bins: dict | None = None) -> xgb.DMatrix:
        """bins ({"max_bin", "ref"}): a QuantileDMatrix, which holds each value as its histogram bin (a
        byte or two) rather than a copy of the rows (a million rows of 250 features: 1 GB less)."""
        types = ["c" if i in set(X.cat_cols) else "q" for i in range(X.dense.shape[1])]
        if bins is not None:
            return xgb.QuantileDMatrix(X.dense, label=y, weight=X.weight, feature_types=types, enable_categorical=True,
                                       nthread=self._task.num_threads, **bins)
        return xgb.DMatrix(X.dense, label=y, weight=X.weight, feature_types=types, enable_categorical=True,
                           nthread=self._task.num_threads)

    def fit(self, X: FeatureSet, y, X_val: FeatureSet | None, y_val, task: Task, deadline: float,
            monitor: Monitor | None = None):
        self._task = task
        objective, loss = OBJECTIVES[task.problem_type]
        metric = library_metric("xgboost", task.metric, task.problem_type, loss)
        params = {"objective": objective, "eval_metric": metric, "eta": 0.05, "max_depth": 6,
                  "min_child_weight": 1.0, "subsample": 0.9, "colsample_bytree": 0.8, "tree_method": "hist",
                  "max_cat_to_onehot": 8, "nthread": task.num_threads, "seed": task.seed, "verbosity": 0}
        if task.is_multiclass:
            params["num_class"] = task.n_classes
        params.update(self.params)
        rounds = params.pop("num_boost_round", 10_000)
        stopper = DeadlineCallback(deadline, PATIENCE, higher_better=metric == "auc", monitor=monitor)

        class Stop(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log):
                return stopper.update(epoch, evals_log["valid"][metric][-1] if evals_log else None)

        hist = params["tree_method"] == "hist"
        train = self._dmatrix(X, y, {"max_bin": params.get("max_bin", 256)} if hist else None)
        evals = [] if X_val is None else [(self._dmatrix(X_val, y_val, {"ref": train} if hist else None), "valid")]
        booster = xgb.train(params, train, rounds, evals=evals, callbacks=[Stop()], verbose_eval=False)
        self.booster_ = booster[: stopper.best_iter + 1]
        self.info = FitRecord(stopper.best_iter + 1, stopper.hit_deadline)
        return self

    def predict(self, X: FeatureSet) -> np.ndarray:
        return to_matrix(self.booster_.predict(self._dmatrix(X)), self._task)

    def shap_values(self, X: FeatureSet) -> np.ndarray:
        """TreeSHAP of a regression model: (n, features + 1), the last column the expected value."""
        return np.asarray(self.booster_.predict(self._dmatrix(X), pred_contribs=True), dtype=np.float64)

    def save(self, prefix: Path) -> list[str]:
        path = model_file(prefix, ".xgb.json")
        self.booster_.save_model(str(path))
        return [path.name]

    @classmethod
    def load(cls, prefix: Path, info: FitRecord, task: Task):
        obj = cls()
        obj.booster_ = xgb.Booster(model_file=str(model_file(prefix, ".xgb.json")))
        obj.booster_.set_param({"nthread": task.num_threads})
        obj.info, obj._task = info, task
        return obj
