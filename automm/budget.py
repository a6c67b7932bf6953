"""How a fit's time is shared: every rule in one `TimePlan`, computed once per fit from `time_limit`
and the preset, and a `Deadline` that means the same instant in every process.

The plan answers, in this order: when the fit must end (a margin is kept for what follows the last
model), how much of it the embeddings may take, how much layer 1 gets when a stacking layer
follows, each model's share of its layer (by time weight, with the time earlier models leave
unused flowing to later ones), each fold's share of its model (a first fold that tunes or searches
weighs more), and when a search must stop so that the other folds can still fit what it found.
A model honours its deadline itself (boosting callbacks, epochs, the linear solver).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass


def time_left(deadline: float) -> float:
    """Seconds until a monotonic deadline."""
    return deadline - time.monotonic()


@dataclass(frozen=True)
class Deadline:
    """An instant on the wall clock (`time.time()`), so that it crosses into worker processes and Ray
    tasks unchanged; `monotonic()` is this process's view of it, for loops that check it often."""
    at: float

    @classmethod
    def after(cls, seconds: float | None) -> "Deadline":
        return cls(math.inf if seconds is None else time.time() + seconds)

    @classmethod
    def from_monotonic(cls, t: float) -> "Deadline":
        return cls(math.inf if t == math.inf else time.time() + (t - time.monotonic()))

    def left(self) -> float:
        return self.at - time.time()

    def monotonic(self) -> float:
        return math.inf if self.at == math.inf else time.monotonic() + self.left()


@dataclass(frozen=True)
class TimePlan:
    time_limit: float | None
    margin_frac: float = 0.03      # of time_limit, plus
    margin_s: float = 0.5          # seconds, kept for the ensemble, the last fold's overrun and returning
    embed_share: float = 0.3       # of time_limit, at most, for the text and image embeddings
    # loading the backbones and timing them costs this much before the first row is embedded (2 cores,
    # cold disk cache): a smaller share skips the embeddings rather than overrun
    min_embed_s: float = 6.0
    feature_share: float = 0.25    # of time_limit, for the table's own features of a large table (planned)
    layer1_share: float = 0.65     # of the time left after the features, when a stacking layer follows
    min_fold_s: float = 0.5        # a model whose folds would each get less is skipped
    tuning_fold_weight: float = 2.0  # the first fold of a model that tunes there (and reuses it) weighs double
    search_share: float | None = None  # with a search: the part of a model's time its first fold takes
    search_reserve: float = 1.25   # the search keeps this many times its best trial for each other fold
    # a second round runs when the time left covers the first round this many times over: models stopped
    # by the deadline validate worse, and the round would be lost time
    second_round_margin: float = 1.25
    # the portfolio's further configurations (anytime.py): one starts when its family's measured time,
    # this many times over, fits in what is left; it may run to this many times that before it is cut
    portfolio_margin: float = 1.25
    portfolio_overrun: float = 2.0
    # a stacker trains again over the new models when it took at most this share of time_limit; a slower
    # one keeps reading the models it was trained on (its time buys more of the portfolio instead)
    restack_share: float = 0.05

    @classmethod
    def for_fit(cls, time_limit: float | None, search_share: float | None = None) -> "TimePlan":
        return cls(None if time_limit is None else float(time_limit), search_share=search_share)

    # ---- the fit and its stages (time.monotonic() instants) ----------------------------------
    def fit_deadline(self, start: float) -> float:
        if not self.time_limit:
            return math.inf
        return start + self.time_limit * (1 - self.margin_frac) - self.margin_s

    @property
    def embed_budget(self) -> float | None:
        """Seconds the embeddings may take (None: no limit)."""
        return None if not self.time_limit else self.embed_share * self.time_limit

    def embed_budget_now(self, fit_deadline: float) -> float | None:
        """What the embeddings may take from now: their share, never past the fit's deadline."""
        return None if self.embed_budget is None else min(self.embed_budget, fit_deadline - time.monotonic())

    @property
    def feature_budget(self) -> float | None:
        return None if not self.time_limit else self.feature_share * self.time_limit

    @property
    def embeddings_fit(self) -> bool:
        budget = self.embed_budget
        return budget is None or budget >= self.min_embed_s

    def layer_deadline(self, fit_deadline: float, stacking: bool) -> float:
        if not stacking:
            return fit_deadline
        return time.monotonic() + (fit_deadline - time.monotonic()) * self.layer1_share

    def another_bag_set(self, layer_deadline: float, set_seconds: float) -> bool:
        """Whether one more bag set like the last one (it took set_seconds) ends before the layer's deadline."""
        return layer_deadline - time.monotonic() >= set_seconds

    # ---- the second round (second_round.py) ---------------------------------------------------
    def second_round_fits(self, first_round_s: float, left_s: float) -> bool:
        return left_s >= self.second_round_margin * first_round_s

    def second_round_embed_budget(self, left_s: float, models_s: float) -> float:
        """The second round's embeddings get what is left after its models, planned as the first's took."""
        return max(left_s - self.second_round_margin * models_s, 0.0)

    # ---- the portfolio's further configurations (anytime.py) ----------------------------------
    def portfolio_deadline(self, fit_deadline: float, restack_s: float) -> float:
        """Until when further layer-1 models may train: the stacking layer again, which took restack_s
        over fewer inputs, keeps its time after them."""
        return fit_deadline - self.portfolio_margin * restack_s

    def restacks(self, stacker_s: float) -> bool:
        return not self.time_limit or stacker_s <= self.restack_share * self.time_limit

    def portfolio_fits(self, family_s: float, deadline: float) -> bool:
        return time.monotonic() + self.portfolio_margin * family_s <= deadline

    def portfolio_model_deadline(self, family_s: float, deadline: float) -> float:
        return min(deadline, time.monotonic() + self.portfolio_overrun * family_s)

    # ---- models and folds --------------------------------------------------------------------
    def model_deadline(self, layer_deadline: float, weight: float, weights_left: float, slots: int) -> float:
        """A model's share of what is left of its layer: its weight among the models still to start,
        times the jobs that run at once (each model's folds then share those slots)."""
        share = min(1.0, slots * weight / weights_left)
        return time.monotonic() + max(0.0, layer_deadline - time.monotonic()) * share

    def too_short(self, model_deadline: float, folds: int) -> bool:
        return model_deadline - time.monotonic() < self.min_fold_s * folds

    def fold_weights(self, folds: int, searching: bool, tunes_on_first_fold: bool) -> list[float]:
        """The first fold runs alone and may tune what the others reuse: with a search it takes
        `search_share` of the model's time, the other folds the rest."""
        if searching:
            q = self.search_share
            first = q * folds / (1 - q) + 1 if folds > 1 else 1.0
        else:
            first = self.tuning_fold_weight if tunes_on_first_fold else 1.0
        return [first] + [1.0] * (folds - 1)

    def fold_deadline(self, model_deadline: float, weights: list[float], fold: int, parallel: int) -> Deadline:
        """Fold `fold`'s share of the model's time left, when `parallel` of its folds run at once."""
        share = min(1.0, parallel * weights[fold] / sum(weights[fold:]))
        return Deadline.from_monotonic(time.monotonic() + max(0.0, model_deadline - time.monotonic()) * share)

    def trial_seconds(self, model_seconds: float, folds: int) -> float:
        """A search trial (the defaults first) may take what a fold gets without a search, so that the
        defaults fit as well as untuned and a winner fits in the other folds' time too."""
        return model_seconds / folds if folds > 1 else model_seconds * self.search_share / 3

    @staticmethod
    def even_share(deadline: float, parts: int) -> float:
        """The deadline of the next of `parts` steps that share what is left evenly (refit_full)."""
        return time.monotonic() + (deadline - time.monotonic()) / max(1, parts)

    # ---- reporting ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if not self.time_limit:
            return "time plan: no time limit"
        t = self.time_limit
        usable = t * (1 - self.margin_frac) - self.margin_s
        embed = (f"embeddings up to {self.embed_budget:.1f}s" if self.embeddings_fit
                 else f"no embeddings ({self.embed_budget:.1f}s < {self.min_embed_s:.0f}s to load the backbones)")
        search = "" if self.search_share is None else \
            f"; a search takes {self.search_share:.0%} of its model's time, keeping {self.search_reserve}x its " \
            "best trial for each other fold"
        return (f"time plan: {usable:.1f}s of {t:g}s for the fit; {embed}; layer 1 gets {self.layer1_share:.0%} "
                f"of what is left when stacking; models share by time weight, skipped under "
                f"{self.min_fold_s}s a fold{search}")
