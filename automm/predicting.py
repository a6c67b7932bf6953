"""Predictions of a fitted MultimodalPredictor, in one shape: labels, probabilities, each model's,
the out-of-fold ones, a submission frame and the scores on labelled data. A mixin of the predictor:
the fitted state stays the predictor's own."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .features import FeatureSet
from .fitted import FittedEnsemble
from .fitted_state import FULL, FittedState, check_fitted
from .metrics import apply_threshold, report
from .progress import with_bars
from .rows import evaluation_weights
from .validation import as_frame


class PredictMixin:
    # ---- predict ----------------------------------------------------------------------------
    def _check_fitted(self) -> FittedState:
        return check_fitted(self)

    def _features(self, data) -> FeatureSet:
        # image paths are read from where the predictor is told now
        return self._check_fitted().features(as_frame(data), self.image_dir)

    def _raw_predict(self, data, model: str | None = None) -> np.ndarray:
        return self._check_fitted().predict_frame(as_frame(data), self.image_dir, model)

    def _one_model(self, model: str) -> tuple[FittedEnsemble, str]:
        return self._check_fitted().one_model(model)

    @with_bars
    def predict(self, data, model: str | None = None, decision_threshold: float | None = None) -> pd.Series:
        """model: one of model_names() instead of the ensemble. decision_threshold: for a binary label,
        the positive class's probability from which it is predicted (default: the calibrated one, else 0.5)."""
        return self._decode(self._raw_predict(data, model), data, decision_threshold)

    def _decode(self, raw: np.ndarray, data, decision_threshold=None) -> pd.Series:
        t = self.decision_threshold_ if decision_threshold is None else decision_threshold
        return self.labels_.decode(apply_threshold(raw, t) if self.task_.is_binary else raw,
                                   data.index if isinstance(data, pd.DataFrame) else None)

    @with_bars
    def predict_proba(self, data, model: str | None = None, as_multiclass: bool = True):
        """One column per class (as_multiclass=False, for a binary label: a Series of the positive
        class's probability); model: one of model_names() instead of the ensemble."""
        self._check_proba()
        return self._proba_frame(self._raw_predict(data, model), data.index if isinstance(data, pd.DataFrame)
                                 else None, as_multiclass)

    def _proba_frame(self, raw: np.ndarray, index, as_multiclass: bool = True):
        if not as_multiclass and self.task_.is_binary:
            return pd.Series(raw[:, 1], index=index, name=self.classes_[1])
        return pd.DataFrame(raw, index=index, columns=list(self.classes_))

    def predict_multi(self, data, models: list[str] | None = None) -> dict[str, pd.Series]:
        """{model: its predictions} for each of `models` (default: every one of model_names()), the
        features computed once."""
        return {m: self._decode(p, data) for m, p in self._each(data, models).items()}

    def predict_proba_multi(self, data, models: list[str] | None = None, as_multiclass: bool = True) -> dict:
        self._check_proba()
        index = data.index if isinstance(data, pd.DataFrame) else None
        return {m: self._proba_frame(p, index, as_multiclass) for m, p in self._each(data, models).items()}

    def _each(self, data, models: list[str] | None) -> dict[str, np.ndarray]:
        models = self.model_names() if models is None else list(models)
        wanted = [self._one_model(m) for m in models]  # unknown names fail before the features
        X = self._features(data)
        out = {}
        for mode, suffix in (("bagged", ""), ("refit", FULL)):
            names = {n for ens, n in wanted if ens is self.ensembles_[mode]}
            if names:
                out.update({n + suffix: p for n, (p, _) in self.ensembles_[mode].predict_each(X, names).items()})
        return {m: out[m] for m in models}

    def _check_proba(self):
        self._check_fitted()
        if self.task_.is_regression:
            raise ValueError("predict_proba is for classification; this predictor does regression: use predict")

    # ---- what the fit produced ---------------------------------------------------------------
    def model_names(self) -> list[str]:
        """The bagged models, then the models refit on all rows (suffix _FULL)."""
        return self._check_fitted().model_names()

    def model_best(self) -> str:
        """The model, or the ensemble, with the best validation score (out of fold)."""
        board = self.leaderboard()
        return str(board.loc[board["score_val"].notna()].iloc[0]["model"])

    def model_failures(self) -> dict[str, dict]:
        """The models that failed and were left out: {name: {"error": ..., "traceback": ...}}."""
        self._check_fitted()
        return {k: dict(v) for k, v in self.failures_.items()}

    def predict_proba_oof(self, model: str | None = None) -> pd.DataFrame:
        """Out-of-fold class probabilities of the training rows: each row predicted by the models of
        the fold that did not train on it (model None: the ensemble's blend). Rows no validation fold
        held (a hold-out fit validates a fifth of them) are NaN."""
        self._check_proba()
        return pd.DataFrame(self._oof(model), index=self.oof_index_, columns=list(self.classes_))

    def predict_oof(self, model: str | None = None) -> pd.Series:
        """Out-of-fold predictions of the training rows, in the label's type (see predict_proba_oof)."""
        self._check_fitted()
        raw = self._oof(model)
        covered = ~np.isnan(raw).any(axis=1)
        return self._decode(np.nan_to_num(raw), pd.DataFrame(index=self.oof_index_)).where(covered)

    def _oof(self, model: str | None) -> np.ndarray:
        return self._check_fitted().oof(model)

    def submission(self, data, id_column: str | None = None, proba: bool = False, as_multiclass: bool = False
                   ) -> pd.DataFrame:
        """What a competition expects: the id column (if named) then the prediction, or the probabilities:
        for a binary label one column (the positive class's, named by it) unless as_multiclass, else one
        column per class named by the class."""
        df = as_frame(data)
        if id_column is not None and id_column not in df.columns:
            raise KeyError(f"id column {id_column!r} is not in the data; its columns are {list(df.columns)}")
        out = self.predict_proba(df, as_multiclass=as_multiclass) if proba else self.predict(df)
        out = out.to_frame() if isinstance(out, pd.Series) else out
        out = out.reset_index(drop=True)
        if id_column is not None:
            out.insert(0, id_column, df[id_column].to_numpy())
        return out

    @with_bars
    def evaluate(self, data, model: str | None = None) -> dict[str, float]:
        """Every metric that applies, plus `score`: the eval_metric. Rows weigh by the sample_weight column
        when the predictor has one and weight_evaluation; hard labels follow the decision threshold."""
        df = as_frame(data)
        y, w = self.labels_.encode(df), self._eval_weight(df)
        raw = self._raw_predict(df, model)
        scores = report(y, raw, self.task_.problem_type, w, self.decision_threshold_)
        if self.metric_.name not in scores:  # a scorer of the user's
            scores[self.metric_.name] = self._score(y, raw, w)
        return {"score": scores[self.metric_.name], "eval_metric": self.metric_.name, **scores}

    def _score(self, y, raw, w=None) -> float:
        return self._check_fitted().score(y, raw, w)

    def _eval_weight(self, df: pd.DataFrame) -> np.ndarray | None:
        return evaluation_weights(df, self.sample_weight, self.weight_evaluation)
