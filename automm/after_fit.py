"""What a user does with a fitted MultimodalPredictor: calibrate the decision threshold, read the
leaderboard and the importance, refit on all rows, and slim or distill it for deployment. A mixin of
the predictor: the fitted state stays the predictor's own."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from .anytime import spend_time_left
from .budget import TimePlan
from .deployment import delete_models, distill, extract_embedding
from .extending import continuation, extra_configs, reweighted
from .inference import measure, threshold_for
from .inspection import leaderboard
from .metrics import get_metric
from .progress import Progress
from .rows import RowOptions
from .validation import (
    as_frame,
)


class AfterFitMixin:
    # ---- the decision threshold of a binary label --------------------------------------------
    def calibrate_decision_threshold(self, data=None, metric=None, model: str | None = None,
                                     verbose: bool = True) -> float:
        """The positive class's probability from which a binary label is predicted that scores best on
        `metric` (default: the eval_metric), on `data` or else on the out-of-fold predictions. It is
        returned, not applied: pass it to set_decision_threshold (fit(calibrate_decision_threshold=...)
        does both)."""
        self._check_fitted()
        if not self.task_.is_binary:
            raise ValueError(f"a decision threshold is for binary labels; this is a {self.task_.problem_type} problem")
        m = self.metric_ if metric is None else get_metric(metric, "binary", self.classes_)
        if data is None:
            if self.oof_y_ is None:
                raise ValueError("this model was saved by an earlier automm without the labels of its out-of-fold "
                                 "predictions: pass data= (labelled rows) to calibrate on")
            y, proba, w = self.oof_y_, self._oof(model), self.oof_weight_
        else:
            df = as_frame(data)
            y, proba, w = self.labels_.encode(df), self._raw_predict(df, model), self._eval_weight(df)
        t, at_half, at_t = threshold_for(m, y, proba, w)
        if verbose:
            Progress(self.verbosity).say(1, f"decision threshold {t:.3f}: {m.name} {at_half:.4f} at 0.5, {at_t:.4f} "
                                            f"at {t:.3f} ({'out of fold' if data is None else 'on the data given'})")
        return t

    def set_decision_threshold(self, threshold: float | None) -> "AfterFitMixin":
        """None: back to 0.5 (argmax)."""
        self._check_fitted()
        if threshold is not None and (not self.task_.is_binary or not 0 <= threshold <= 1):
            raise ValueError(f"decision_threshold must be between 0 and 1, for a binary label; not {threshold!r} "
                             f"for a {self.task_.problem_type} problem")
        self.state_ = replace(self.state_, decision_threshold=None if threshold is None else float(threshold))
        return self


    def leaderboard(self, data=None) -> pd.DataFrame:
        """Each model's validation score, fit time and (given labelled data) test score and predict time,
        end to end (the features, and a stacker's inputs from layer 1, included)."""
        return leaderboard(self, data)

    # ---- refit on all rows --------------------------------------------------------------------
    def refit_full(self, train_data=None, time_limit: float | None = None, set_default: bool = True
                   ) -> "AfterFitMixin":
        """Retrain the ensemble's models on all training rows, one model per bag.

        Boosting models train for the mean of their folds' best iteration counts; stackers train
        on the stored out-of-fold predictions. The bagged models are kept: `leaderboard` shows both
        and `set_inference("bagged" | "refit")` chooses which predict uses. With a `path`, the model
        saved there is updated.
        train_data: needed after `load` (a saved model does not keep its training data); it must be
        the data given to fit (sample weights given to fit as an array, not a column, are not kept).
        """
        self._check_fitted()
        if not self.ensembles_["bagged"].predictable:
            raise ValueError("the bagged models were deleted (delete_models), so there is nothing to refit")
        start = time.monotonic()
        deadline = TimePlan.for_fit(time_limit).fit_deadline(start)
        df, hp, weight = self._training_rows(train_data, "refit_full")
        X, y = self._features(df).with_weight(weight), self.labels_.encode(df)
        progress = Progress(self.verbosity, start)
        refit = self.ensembles_["bagged"].refit(X, y, deadline, hp, progress.say)
        speed = measure(lambda rows: refit.predict(self._features(rows)), df)
        self.state_ = replace(self.state_.with_ensembles(refit=refit, active="refit" if set_default else self.inference_),
                              predict_rows_per_s={**self.predict_rows_per_s_, "refit": speed})
        progress.say(1, f"refit {len(self.models_full_)} models in {time.monotonic() - start:.1f}s; predict uses "
                        f"the {self.inference_} models")
        if self.path is not None:  # kept where fit keeps the model
            self._save(self.path, overwrite=True, complete=True)
        return self

    def _training_rows(self, train_data, caller: str) -> tuple[pd.DataFrame, dict, np.ndarray | None]:
        """The rows given to fit (this session's, or train_data after a load, checked to be as many),
        the hyperparameters they were fitted with, and their weights."""
        if train_data is not None:
            df, hp = as_frame(train_data, "train_data"), {}
            df = df[df[self.label].notna()]
        elif getattr(self, "_fit_data", None) is not None:
            df, hp, _ = self._fit_data
        else:
            raise ValueError(f"{caller} needs train_data: a loaded predictor does not keep its training data")
        df, n_fit = df.reset_index(drop=True), len(self.models_[0].oof)
        if len(df) != n_fit:
            raise ValueError(f"train_data has {len(df)} labelled rows, but the predictor was fitted on {n_fit}: "
                             f"{caller} needs the data given to fit")
        return df, hp, self._training_weights(df)

    def _training_weights(self, df: pd.DataFrame) -> np.ndarray | None:
        """The sample weights of the training rows `df` (scaled to mean 1): this session's fit's, or read
        again from the sample_weight column (weights given to fit as an array are not kept by a save)."""
        if getattr(self, "_fit_data", None) is not None:
            return self._fit_data[2]
        if isinstance(self.sample_weight, str):
            return RowOptions(self.sample_weight).weights(df, np.arange(len(df)))
        return None

    # ---- more models, later --------------------------------------------------------------------
    def fit_extra(self, train_data=None, time_limit: float | None = None, hyperparameters: dict | None = None
                  ) -> "AfterFitMixin":
        """Train more models on the fit's own folds and features, then the stackers again over all of layer
        1, then ensemble selection again. hyperparameters: {model: dict or list of dicts}, as fit takes them
        (a name already trained gets a number); default: the rest of the portfolio of each family trained
        (portfolio.py), best expected gain per second first. time_limit: seconds for all of it (default:
        none, so every configuration trains). train_data: needed after `load`; the data given to fit. Works
        on a loaded model, a crashed fit(path=...) included; the refit models, if any, are dropped (call
        refit_full again). With a `path`, the model saved there is updated."""
        state = self._check_fitted()
        if state.folds is None:
            raise ValueError("this model was saved before automm kept its folds, so fit_extra cannot go on on the "
                             "same folds; fit it again with this version")
        start = time.monotonic()
        configs = extra_configs(state, hyperparameters)
        df, _, weight = self._training_rows(train_data, "fit_extra")
        y = self.labels_.encode(df)
        if not np.array_equal(y, state.oof_y):
            raise ValueError("train_data's labels are not those the predictor was fitted on: fit_extra needs the data "
                             "given to fit, in the same order")
        progress = Progress(self.verbosity, start)
        if not configs:
            progress.say(1, "fit_extra: every configuration of the portfolio is trained already; pass hyperparameters")
            return self
        problem, spec = continuation(state, df, y, weight, configs, time_limit, start)
        if state.ensembles.refit is not None:
            progress.say(1, "fit_extra: the refit models are dropped (the blend changes); call refit_full again")
        new, record = spend_time_left(state, problem, spec, self._features(df).with_weight(weight), progress, start,
                                      later=True)
        history = list((state.anytime or {}).get("fit_extra", []))
        self.state_ = replace(new, anytime={**(state.anytime or {}), "fit_extra": history + [record]},
                              predict_rows_per_s={"bagged": measure(self._raw_predict, df)})
        if self.path is not None:
            self._save(self.path, overwrite=True, complete=True)
        return self

    def fit_weighted_ensemble(self, models: list[str]) -> "AfterFitMixin":
        """The blend chosen again among `models` only (names from model_names(); bagged models), by ensemble
        selection on their out-of-fold predictions. Every model stays; predict uses the new blend."""
        self._check_fitted()
        self.state_ = reweighted(self.state_, list(models))
        progress = Progress(self.verbosity, time.monotonic())
        used = ", ".join(f"{n} {w:.2f}" for n, w in self.weights_.items() if w > 0)
        progress.say(1, f"fit_weighted_ensemble: validation {self.metric_.name} {self.val_score_:.4f} ({used})")
        return self

    def set_inference(self, mode: str) -> "AfterFitMixin":
        """"bagged": the fold models of the ensemble; "refit": the models from refit_full."""
        if mode not in ("bagged", "refit"):
            raise ValueError(f"inference mode must be 'bagged' or 'refit', not {mode!r}")
        if mode == "refit" and not self.models_full_:
            raise ValueError("there are no refit models yet: call refit_full() first")
        if mode == "bagged" and not self.ensembles_["bagged"].predictable:
            raise ValueError("the bagged models were deleted (delete_models): predict with the refit models")
        self.state_ = self.state_.with_ensembles(active=mode)
        return self

    # ---- deployment -------------------------------------------------------------------------
    def delete_models(self, models_to_keep: str | list[str] = "best", dry_run: bool = False) -> list[str]:
        """Drop the models not in `models_to_keep` ("best": those predict uses now) and return their names;
        a save() afterwards writes only what is left. The out-of-fold predictions of deleted bagged models
        that the validation blend needs are kept (they are small), so the threshold and OOF stay."""
        return delete_models(self, models_to_keep, dry_run)

    def clone_for_deployment(self, path, overwrite: bool = False, archive: bool = False) -> str:
        """Save a copy at `path` that holds only the models predict uses (delete_models("best") on the
        copy); this predictor keeps all of its own. archive=True: one .zip file. Returns the path."""
        import tempfile
        from pathlib import Path
        self._check_fitted()
        with tempfile.TemporaryDirectory(prefix="automm-clone-") as tmp:
            self.save(Path(tmp) / "model")
            clone = type(self).load(Path(tmp) / "model", eval_metric=self.metric_ if self.metric_.custom else None,
                                    require_version_match=False)
            clone.delete_models("best")
            return clone.save(path, overwrite=overwrite, archive=archive)

    def extract_embedding(self, data, as_dict: bool = False):
        """The frozen embeddings of each row: an (n, d) array of the text embedding (all text columns as
        one document) and each image column's, side by side; as_dict: {"text" or column: (n, d_i)}.
        A predictor fitted without embeddings computes them with its (or the default) backbones."""
        return extract_embedding(self, data, as_dict)

    def distill(self, train_data=None, time_limit: float | None = None, augment_factor: float = 1.0,
                hyperparameters: dict | None = None) -> "AfterFitMixin":
        """A new predictor with one fast student model (LightGBM on the table's own features, no
        embeddings) trained on this ensemble's soft labels of the training rows and of augmented rows.
        It predicts, evaluates and saves like any predictor; its validation score and predict speed are
        logged against the teacher's. train_data: needed after load (the data given to fit)."""
        self._check_fitted()
        df, _, weight = self._training_rows(train_data, "distill")
        return distill(self, df, weight, time_limit, augment_factor, hyperparameters=hyperparameters)
