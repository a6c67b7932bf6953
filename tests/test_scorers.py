"""Every scikit-learn scorer as eval_metric (issue 27): each name of get_scorer_names() and make_scorer
of label-, probability- and threshold-based functions, on binary labels of bool, int and string type,
multiclass labels, numbers and counts. Each either fits and predicts or is refused before the fit with
automm's own message naming the metric or the label, never another library's error from inside."""
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from automm import MultimodalPredictor
from automm.metrics import METRICS, cut_scores, hard


def _labels(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    noisy = x + rng.normal(0, 0.5, n)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n)}), {
        "bool": noisy > 0, "int": (noisy > 0).astype(int), "str": np.where(noisy > 0, "yes", "no"),
        "multiclass": np.array(["a", "b", "c"])[np.digitize(noisy, [-0.5, 0.5])],
        "regression": 2 * x + 1 + rng.normal(0, 0.3, n), "count": rng.poisson(np.exp(x / 2)),
    }


def _outcome(scorer, y, X, label: str = "") -> str:
    """'ok' (fitted, predicted, the metric's validation score finite) or 'refused' (automm's ValueError,
    before any model was trained)."""
    trained = []
    df = X.assign(y=y)
    p = MultimodalPredictor("y", eval_metric=scorer, verbosity=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's zero-division and undefined-metric warnings
            p.fit(df, hyperparameters={"lightgbm": {"n_estimators": 30}}, num_bag_folds=0)
    except ValueError as exc:
        msg = str(exc)
        assert msg.startswith(("eval_metric=", "label column")), msg
        trained = getattr(p, "models_", [])
        assert not trained, "refused after training"
        return "refused"
    assert len(p.predict(df.head(7))) == 7
    # a count label has classes of a row or two, absent from the validation rows, where an AUC is undefined
    assert np.isfinite(p.leaderboard()["score_val"]).all() or scorer in NAN_PRONE or label == "count"
    return "ok"


NAN_PRONE = {"positive_likelihood_ratio", "neg_negative_likelihood_ratio"}  # undefined without a false positive
CUSTOM = {
    "make_scorer(f1_score)": skm.make_scorer(skm.f1_score),
    "make_scorer(fbeta_score, beta=2)": skm.make_scorer(skm.fbeta_score, beta=2),
    "make_scorer(precision_score, average='macro')": skm.make_scorer(skm.precision_score, average="macro"),
    "make_scorer(log_loss, proba)": skm.make_scorer(skm.log_loss, response_method="predict_proba",
                                                   greater_is_better=False),
    "make_scorer(brier_score_loss, proba)": skm.make_scorer(skm.brier_score_loss, response_method="predict_proba",
                                                           greater_is_better=False),
    "make_scorer(roc_auc_score, threshold)": skm.make_scorer(skm.roc_auc_score, response_method="decision_function"),
    "make_scorer(mean_absolute_error)": skm.make_scorer(skm.mean_absolute_error, greater_is_better=False),
}


@pytest.mark.parametrize("label", ["bool", "int", "str"])
@pytest.mark.parametrize("name", ["make_scorer(f1_score)", "make_scorer(log_loss, proba)",
                                  "make_scorer(roc_auc_score, threshold)", "make_scorer(brier_score_loss, proba)"])
def test_label_probability_and_threshold_scorers_fit_every_binary_label_type(name, label):
    X, labels = _labels()
    assert _outcome(CUSTOM[name], labels[label], X) == "ok"


def test_a_scorer_sees_labels_in_their_own_type_and_the_positive_class_as_pos_label():
    from automm.metrics import get_metric
    y = np.array([0, 1, 1, 0, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    for classes in ([False, True], [0, 1], ["no", "yes"]):
        f1 = get_metric(skm.make_scorer(skm.f1_score), "binary", np.array(classes, dtype=object))
        assert f1.score(y, proba) == pytest.approx(skm.f1_score(y, proba.argmax(1)))  # 0.8: one positive missed
    multilabel = skm.get_scorer_names()
    assert "f1_samples" in multilabel
    with pytest.raises(ValueError, match="multilabel"):
        MultimodalPredictor("y", eval_metric="f1_samples", verbosity=0).fit(_labels()[0].assign(y=y.tolist() * 24))


def test_the_fast_cuts_score_as_the_metric_does():
    """f1_macro, f1_micro, f1_weighted and kappa at every cut from cumulative counts, as scoring each cut
    with scikit-learn gives (they made ensemble selection with a calibrated threshold 100 times slower)."""
    rng = np.random.default_rng(0)
    for trial in range(12):
        n = int(rng.integers(5, 80))
        # below 1: a cut at 1.0 over probabilities of exactly 1.0 is the one place the two ways part
        y, p1 = rng.integers(0, 2, n), np.minimum(np.round(rng.random(n), int(rng.integers(1, 3))), 0.99)
        w = None if trial % 2 else rng.random(n)
        for name in ("f1", "mcc", "f1_macro", "f1_micro", "f1_weighted", "quadratic_kappa"):
            m = METRICS[name]
            cuts, fast = cut_scores(m, y, p1, w)
            slow = np.nan_to_num([m.score(y, hard(p1, c), w) for c in cuts], nan=0.0)
            np.testing.assert_allclose(fast, slow, atol=1e-9, err_msg=name)


@pytest.mark.slow
def test_every_scikit_learn_scorer_fits_or_is_refused_before_the_fit():
    import gc
    X, labels = _labels()
    seen = {}
    gc.freeze()  # each fit collects garbage once; the test session's heap of earlier fits need not be walked
    try:
        for name in list(skm.get_scorer_names()) + list(CUSTOM):
            for label, y in labels.items():
                seen[name, label] = _outcome(CUSTOM.get(name, name), y, X, label)
    finally:
        gc.unfreeze()
    fits = {k for k, v in seen.items() if v == "ok"}
    # what each kind of scorer must fit: a label scorer every classification label, a number scorer numbers
    for label in ("bool", "int", "str", "multiclass"):
        for name in ("accuracy", "f1_macro", "jaccard_weighted", "neg_log_loss", "roc_auc_ovr", "top_k_accuracy",
                     "adjusted_rand_score", "make_scorer(precision_score, average='macro')"):
            assert (name, label) in fits, (name, label, seen[name, label])
    for label in ("bool", "int", "str"):
        for name in ("f1", "jaccard", "neg_brier_score", "precision", "average_precision", "roc_auc",
                     "positive_likelihood_ratio", "make_scorer(f1_score)", "make_scorer(fbeta_score, beta=2)"):
            assert (name, label) in fits, (name, label, seen[name, label])
    for name in ("r2", "neg_mean_absolute_error", "neg_root_mean_squared_error", "neg_median_absolute_error",
                 "explained_variance", "d2_absolute_error_score", "neg_max_error", "make_scorer(mean_absolute_error)"):
        assert (name, "regression") in fits, (name, seen[name, "regression"])
    assert ("neg_mean_poisson_deviance", "count") in fits or seen["neg_mean_poisson_deviance", "count"] == "refused"
    print(f"\n{len(fits)} fits, {len(seen) - len(fits)} refused before the fit, of {len(seen)} pairs")
