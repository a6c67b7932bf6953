"""How the predictions on labelled rows went: a confusion matrix and per-class report, or residuals;
a calibration curve; and, for each text column, the n-grams that move the linear text model most."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

CANDIDATES = 300  # the most frequent word n-grams of a text column that are tried
TOP = 15          # n-grams kept per class and direction


def confusion(target, y: np.ndarray, raw: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(confusion matrix: true classes as rows, predicted as columns; per-class precision, recall, f1,
    support)."""
    classes = target.classes
    pred = target.hard(raw)
    labels = np.arange(len(classes))
    matrix = pd.DataFrame(confusion_matrix(y, pred, labels=labels), index=pd.Index(classes, name="true"),
                          columns=pd.Index(classes, name="predicted"))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    report = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(classes, name="class"))
    return matrix, report


def residuals(y: np.ndarray, raw: np.ndarray, index) -> pd.DataFrame:
    pred = raw[:, 0]
    return pd.DataFrame({"label": y, "prediction": pred, "residual": y - pred}, index=index)


def calibration(target, y: np.ndarray, raw: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Quantile bins of the predicted probability (binary: the positive class's; multiclass: the
    predicted class's, against whether it was right): mean_predicted, fraction_true, count."""
    if target.problem_type == "binary":
        prob, hit = raw[:, 1], (y == 1).astype(float)
    else:
        pred = target.hard(raw)
        prob, hit = raw[np.arange(len(raw)), pred], (pred == y).astype(float)
    edges = np.unique(np.quantile(prob, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": which, "prob": prob, "hit": hit}).groupby("bin")
    return pd.DataFrame({"mean_predicted": frame.prob.mean(), "fraction_true": frame.hit.mean(),
                         "count": frame.size()}).reset_index(drop=True)


def ngram_effects(target, data: pd.DataFrame, text_columns: list[str], top: int = TOP) -> pd.DataFrame | None:
    """For each text column: the effect of each frequent word n-gram on the linear model's decision
    function when it is the column's whole text, against an empty text (in log-odds for a binary label,
    centred class scores, or the label's unit), the rest of the row held at one reference row. Linear
    in its inputs, the model moves by the same amount whatever that reference row is (probabilities,
    which saturate, would not). None without a linear model."""
    if target.linear_bag() is None or not text_columns:
        return None
    out = []
    reference = data.iloc[[0]]
    names = target.outputs() if target.problem_type == "multiclass" else [target.outputs()[-1]]
    for c in text_columns:
        texts = data[c].dropna().astype(str)
        if texts.str.strip().eq("").all():
            continue
        try:
            vocab = CountVectorizer(ngram_range=(1, 2), min_df=2, max_features=CANDIDATES).fit(texts)
        except ValueError:  # no n-gram in two rows or more
            continue
        grams = list(vocab.get_feature_names_out())
        frame = pd.concat([reference] * (len(grams) + 1), ignore_index=True)
        frame[c] = [""] + grams
        z = target.linear_scores(frame)
        if target.problem_type == "multiclass":  # class scores move together under a shared shift
            z = z - z.mean(axis=1, keepdims=True)
        effect = z[1:] - z[0]
        for j, name in enumerate(names):
            e = pd.Series(effect[:, j], index=grams)
            chosen = pd.concat([e.nlargest(top), e.nsmallest(top)]) if len(names) == 1 else e.nlargest(top)
            out.append(pd.DataFrame({"column": c, "output": name, "ngram": chosen.index, "effect": chosen.to_numpy()}))
    return pd.concat(out, ignore_index=True) if out else None
