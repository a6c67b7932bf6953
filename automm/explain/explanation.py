"""What explain() returns: frames first, plots second (each plot method returns a matplotlib Figure;
matplotlib comes with the `plot` extra)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Explanation:
    """importance: one row per input column (permutation importance, its interval and p-value).
    contributions: one row per explained row (indexed like them), one column per input column, such
    that contributions.sum(axis=1) + base == prediction. base: a float, or a Series per row (a
    multiclass row explained for its own predicted class). explained: what the prediction is (the
    positive class's probability, a class's probability, or the label's value)."""
    importance: pd.DataFrame | None = None
    contributions: pd.DataFrame | None = None
    base: float | pd.Series | None = None
    prediction: pd.Series | None = None
    values: pd.DataFrame | None = None          # the explained rows' inputs, for the summary plot's colours
    explained: str = ""
    method: str = ""                            # "sampling" or "tree"
    paths: int = 0                              # sampled paths per row
    contributions_by_class: dict[str, pd.DataFrame] | None = None
    partial_dependence: pd.DataFrame | None = None
    confusion_matrix: pd.DataFrame | None = None
    per_class: pd.DataFrame | None = None
    residuals: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    ngrams: pd.DataFrame | None = None
    seconds: dict = field(default_factory=dict)  # each part's time

    def additivity_error(self) -> float:
        """max over rows of |contributions.sum + base - prediction| (0 up to rounding)."""
        if self.contributions is None:
            return float("nan")
        total = self.contributions.sum(axis=1) + self.base
        return float((total - self.prediction).abs().max())

    def row(self, row) -> pd.Series:
        """One explained row's contributions, largest in size first."""
        c = self.contributions.loc[row]
        return c.reindex(c.abs().sort_values(ascending=False).index)

    # ---- plots (automm.explain.plots) -----------------------------------------------------------
    def plot_importance(self):
        from . import plots
        return plots.importance(self)

    def plot_waterfall(self, row=None):
        from . import plots
        return plots.waterfall(self, self.contributions.index[0] if row is None else row)

    def plot_summary(self):
        from . import plots
        return plots.summary(self)

    def plot_dependence(self, column: str | None = None):
        from . import plots
        return plots.dependence(self, column)

    def plot_confusion(self):
        from . import plots
        return plots.confusion(self)

    def plot_residuals(self):
        from . import plots
        return plots.residuals(self)

    def plot_calibration(self):
        from . import plots
        return plots.calibration(self)

    def figures(self) -> dict:
        """{title: Figure} of every plot this explanation has the data for."""
        from . import plots
        return plots.all_figures(self)
