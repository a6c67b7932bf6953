"""What the explainers see of a fitted predictor: its input columns, its output on a frame, its labels
and its score. The one place in automm.explain that reads the predictor's fitted state, so that the
explainers are functions of this small surface."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..fitted_state import check_fitted
from ..metrics import apply_threshold
from ..rows import evaluation_weights


class Target:
    def __init__(self, predictor, model: str | None = None):
        self.state = check_fitted(predictor)
        if model is not None:
            self.state.one_model(model)  # an unknown name fails here, naming the models there are
        self.p, self.model = predictor, model
        self.problem_type = predictor.task_.problem_type
        self.classes = list(predictor.classes_) if self.problem_type != "regression" else []
        self.label = predictor.label
        self.columns = [c for c in predictor.schema_.used_columns]
        self.sign = predictor.metric_.sign
        self.metric = predictor.metric_.name
        self.seed = predictor.seed

    # ---- the model's output -------------------------------------------------------------------
    def raw(self, df: pd.DataFrame) -> np.ndarray:
        """(n, C): class probabilities, or (n, 1) regression values."""
        out = self.state.predict_raw(self.features(df), self.model)
        return np.asarray(out, dtype=np.float64).reshape(len(df), -1)

    def features(self, df: pd.DataFrame):
        return self.state.features(df.reset_index(drop=True), self.p.image_dir)

    def outputs(self) -> list[str]:
        """A name for each column of raw()."""
        return self.classes if self.problem_type != "regression" else [self.label]

    def tree_inputs(self, df: pd.DataFrame):
        """(the ensemble to explain, its features of df) where TreeSHAP may apply, else None."""
        if self.model is not None:
            return None
        return self.state.ensembles.current, self.features(df)

    def linear_bag(self):
        """The bagged linear model of layer 1 (the n-gram explainer reads it), if the fit has one."""
        return next((b for b in self.p.models_ if b.kind == "linear" and b.layer == 1 and b.models), None)

    def linear_scores(self, df: pd.DataFrame) -> np.ndarray:
        """The linear bag's fold models' mean decision function on df (log-odds, class scores or values)."""
        X = self.features(df)
        return np.mean([m.decision_function(X) for m in self.linear_bag().models], axis=0)

    # ---- labels and scores --------------------------------------------------------------------
    def has_labels(self, df: pd.DataFrame) -> bool:
        return self.label in df.columns and df[self.label].notna().all()

    def labels(self, df: pd.DataFrame) -> np.ndarray:
        return self.p.labels_.encode(df)

    def weights(self, df: pd.DataFrame):
        return evaluation_weights(df, self.p.sample_weight, self.p.weight_evaluation)

    def score(self, y, raw, w=None) -> float:
        return self.state.score(y, raw, w)

    def hard(self, raw: np.ndarray) -> np.ndarray:
        """Class indices as predict gives them (the decision threshold of a binary label)."""
        return np.asarray(apply_threshold(raw, self.p.decision_threshold_)).argmax(axis=1)

    # ---- columns -----------------------------------------------------------------------------
    def kind(self, column: str) -> str:
        return str(self.p.schema_[column].kind)

    def check_features(self, features) -> list[str]:
        features = [features] if isinstance(features, str) else list(features)
        unknown = [f for f in features if f not in self.columns]
        if unknown:
            raise KeyError(f"features {unknown} are not input columns of this model; its columns are {self.columns}")
        return features
