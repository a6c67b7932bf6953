"""LightGBM on the dense view (numbers, category codes, text statistics, SVD and top n-grams)."""
from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

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

# (objective, early-stopping metric) per problem type; AUC is used when it is the eval metric
OBJECTIVES = {"binary": ("binary", "binary_logloss"), "multiclass": ("multiclass", "multi_logloss"),
              "regression": ("regression", "l2")}
PATIENCE = 50


class LightGBMModel(BaseModel):
    name = "lightgbm"
    rounds_param = "num_boost_round"  # refit_full sets it to the folds' mean best iteration
    report_every = 10  # iterations between the validation losses a search's pruner sees
    prune_after = 100  # iterations before a trial may be pruned
    search_space = {"learning_rate": Real(0.01, 0.2, log=True, default=0.05),
                    "num_leaves": Int(8, 128, log=True, default=31),
                    "feature_fraction": Real(0.3, 1.0, default=0.8),
                    "min_data_in_leaf": Int(3, 60, log=True),  # the default depends on the row count
                    "lambda_l2": Real(1e-3, 10.0, log=True, default=1.0)}

    @classmethod
    def check_params(cls, params: dict) -> None:
        """Unknown names (LightGBM only warns, and `verbose: -1` hides that) and invalid values fail here."""
        aliases = lgb.basic._ConfigAliases._get_all_param_aliases()
        known = set(aliases) | {a for names in aliases.values() for a in names} | {"num_boost_round"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"hyperparameters['lightgbm'] has unknown parameters {unknown}; see "
                             "https://lightgbm.readthedocs.io/en/latest/Parameters.html")
        X, y = tiny_data()
        try:
            lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1,
                       **fixed_params(params, ("num_boost_round", "objective", "num_class", "metric"))},
                      lgb.Dataset(X, y), 1)
        except lgb.basic.LightGBMError as exc:
            raise bad_params("lightgbm", exc) from exc

    def _params(self, task: Task, n_rows: int) -> dict:
        objective, loss = OBJECTIVES[task.problem_type]
        metric = library_metric("lightgbm", task.metric, task.problem_type, loss)
        p = {"objective": objective, "metric": metric, "learning_rate": 0.05, "num_leaves": 31,
             "min_data_in_leaf": int(np.clip(n_rows // 50, 3, 20)), "feature_fraction": 0.8,
             "bagging_fraction": 0.9, "bagging_freq": 1, "lambda_l2": 1.0, "cat_smooth": 10,
             "max_cat_to_onehot": 8, "num_threads": task.num_threads, "seed": task.seed,
             "deterministic": True, "force_row_wise": True, "verbose": -1}
        if task.is_multiclass:
            p["num_class"] = task.n_classes
        return {**p, **self.params}

    def fit(self, X: FeatureSet, y, X_val: FeatureSet | None, y_val, task: Task, deadline: float,
            monitor: Monitor | None = None):
        self._task = task
        params = self._params(task, len(X))
        rounds = params.pop("num_boost_round", 10_000)
        train = lgb.Dataset(X.dense, y, weight=X.weight, feature_name="auto", categorical_feature=list(X.cat_cols),
                            free_raw_data=True)
        valid = [] if X_val is None else [lgb.Dataset(X_val.dense, y_val, weight=X_val.weight, reference=train,
                                                       categorical_feature=list(X.cat_cols))]
        stopper = DeadlineCallback(deadline, PATIENCE, higher_better=params["metric"] == "auc", monitor=monitor)

        def callback(env):
            results = env.evaluation_result_list
            if stopper.update(env.iteration, results[0][2] if results else None):
                raise lgb.callback.EarlyStopException(stopper.best_iter, env.evaluation_result_list)

        self.booster_ = lgb.train(params, train, rounds, valid_sets=valid, callbacks=[callback])
        self.booster_ = lgb.Booster(model_str=self.booster_.model_to_string(num_iteration=stopper.best_iter + 1))
        self.info = FitRecord(stopper.best_iter + 1, stopper.hit_deadline)
        return self

    def predict(self, X: FeatureSet) -> np.ndarray:
        return to_matrix(self.booster_.predict(X.dense), self._task)

    def shap_values(self, X: FeatureSet) -> np.ndarray:
        """TreeSHAP of a regression model: (n, features + 1), the last column the expected value."""
        return np.asarray(self.booster_.predict(X.dense, pred_contrib=True), dtype=np.float64)

    def save(self, prefix: Path) -> list[str]:
        path = model_file(prefix, ".lgb.txt")
        self.booster_.save_model(str(path))
        return [path.name]

    @classmethod
    def load(cls, prefix: Path, info: FitRecord, task: Task):
        obj = cls()
        obj.booster_ = lgb.Booster(model_file=str(model_file(prefix, ".lgb.txt")))
        obj.info, obj._task = info, task
        return obj
