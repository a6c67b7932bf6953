"""Why a fitted MultimodalPredictor predicts what it predicts: permutation importance, explain() and
explain_row(), the model card as text (fit_summary) and as a one-file HTML report. A mixin of the
predictor; the work is automm.explain's."""
from __future__ import annotations

import pandas as pd

from .explain.importance import permutation_importance
from .explain.report import card, markdown, write_report
from .explain.run import explain as run_explain
from .explain.target import Target
from .features.vector_cache import scratch
from .inspection import fit_summary
from .progress import Progress, bars
from .validation import as_frame


class ExplainMixin:
    def feature_importance(self, data, num_shuffle_sets: int = 5, subsample_size: int = 1000, features=None,
                           time_limit: float | None = None, confidence_level: float = 0.99,
                           model: str | None = None) -> pd.DataFrame:
        """Permutation importance per input column: how much the score drops when it is shuffled (a text
        or image column is one input, however many features it makes). Columns: type, importance,
        stddev (over shuffle sets), ci_low / ci_high (a bootstrap interval at confidence_level), p_value
        (one-sided, of importance <= 0) and n (shuffle sets run). time_limit: seconds after which no
        new shuffle set starts (the first always runs)."""
        with bars(self.progress_bar), scratch():  # each distinct text or image embedded once
            return permutation_importance(Target(self, model), as_frame(data), features, num_shuffle_sets,
                                          subsample_size, time_limit, confidence_level, self.seed)

    def explain(self, data, rows=None, model: str | None = None, features=None, background=None,
                time_limit: float = 120.0, class_=None, importance: bool = True, dependence: bool = True,
                method: str = "auto"):
        """An Explanation (automm.explain.Explanation) of the predictions on `data`, frames first:
        importance (needs the label in data), contributions of each input column to each row of `rows`
        (index labels of data; default up to 100 rows sampled) with `base` such that
        contributions.sum(axis=1) + base equals the prediction explained (the positive class's
        probability, class_'s, each row's predicted class's, or the value), partial dependence and ICE,
        a confusion matrix and per-class report or residuals, a calibration curve, and the n-grams that
        move the linear text model. Then plots: plot_importance(), plot_waterfall(row), plot_summary(),
        plot_dependence(), plot_confusion(), plot_residuals(), plot_calibration().
        method: "tree" (exact TreeSHAP; a regression blend of boosted trees only), "sampling"
        (permutation sampling against `background` rows, default a sample of data; any model) or
        "auto". time_limit: seconds for the whole explanation, shared between its parts."""
        say = Progress(self.verbosity).say
        with bars(self.progress_bar):
            return run_explain(self, data, rows, model, features, background, time_limit, class_, importance,
                               dependence, method, say=lambda msg: say(2, msg))

    def explain_row(self, data, row, model: str | None = None, background=None, time_limit: float = 30.0,
                    class_=None):
        """One row's explanation (H2O's name): its contributions, with the plot_waterfall(row) plot."""
        return self.explain(data, rows=[row], model=model, background=background, time_limit=time_limit,
                            class_=class_, importance=False, dependence=False)

    def fit_summary(self, verbosity: int = 1, format: str = "text") -> str:
        """What the fit did, to read: the columns, the time plan and how the time went, each model's
        validation score, fit time and weight, the ensemble, the decision threshold and predict speed;
        verbosity 2 adds the failures' tracebacks. format="markdown": the model card as Markdown."""
        if format == "markdown":
            return markdown(card(self))
        if format != "text":
            raise ValueError(f"format must be 'text' or 'markdown', not {format!r}")
        return fit_summary(self, verbosity)

    def report(self, path, data=None, explanation=None, time_limit: float = 120.0) -> str:
        """Write the model card to `path` as one self-contained HTML file (plots inlined; it opens from disk
        and fetches nothing): the columns and why, the time plan and how it went, the embedding plan,
        the leaderboard and weights, and, given data, an explanation of it (explain(data), unless one
        is passed), the data's digest and the library versions."""
        df = None if data is None else as_frame(data)
        if explanation is None and df is not None:
            explanation = self.explain(df, time_limit=time_limit)
        return str(write_report(self, path, df, explanation))
