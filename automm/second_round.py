"""A second round for the time the first one left unused (the best preset).

On a CPU the text is embedded on the static tier, which predicts several times faster than the
transformer, and an image column gets the largest image size that its share of the embedding budget
allows. When the first round leaves more time than it took, a modality on a weaker tier than it could
have had is not left so: the fit runs again with the text on the transformer tier and the images
planned on the time left, on the same folds, and keeps the round whose ensemble validates better.
The transformer tier predicts several times slower, so with an infer_limit the second round is kept
only when it meets it.
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import replace

from .fitted_state import FittedState
from .inference import measure
from .presets import Preset
from .training import fit_round


def tiers(pipeline) -> dict:
    """How each embedded modality was embedded: the text's tier, each image column's size (0: left out)."""
    emb = getattr(pipeline, "emb_", None)
    if emb is None:
        return {}
    out = {"text": emb.text_tier_} if emb.text_cols_ else {}
    return out | {f"image {c!r}": emb.image_sizes_.get(c, 0) for c in emb.image_best_}


def weaker_tiers(pipeline) -> list[str]:
    """The modalities embedded below what they could have had, in words."""
    emb, now = getattr(pipeline, "emb_", None), tiers(pipeline)
    out = []
    if now.get("text") == "static" and emb.settings.text_tier == "auto" and importlib.util.find_spec("transformers"):
        out.append("the text on the static tier")
    for c, best in (emb.image_best_.items() if emb is not None else ()):
        size = now[f"image {c!r}"]
        if size < best:
            out.append(f"image {c!r} " + (f"at {size} px of {best}" if size else "left out"))
    return out


def upgraded(before: dict, after: dict) -> bool:
    """A stronger tier somewhere and a weaker one nowhere (a smaller share of time may shrink an image)."""
    rank = {"static": 1, "transformer": 2}

    def level(key, value):
        return rank.get(value, 0) if key == "text" else value
    pairs = [(level(k, before[k]), level(k, after.get(k, 0))) for k in before]
    return all(a >= b for b, a in pairs) and any(a > b for b, a in pairs)


def second_round(state: FittedState, problem, spec, preset: Preset, progress, start: float,
                 infer_limit: float | None, seed: int, device: str, image_dir: str | None,
                 features_out: dict | None = None) -> tuple[dict | None, FittedState]:
    """Runs the second round on the first round's `state` when it is wanted and has the time. Returns
    what happened, for info() (None: nothing was weaker, or the preset does not run one), and the state
    kept: the second round's when it validates better, else the first's (the fit took both rounds)."""
    weaker = weaker_tiers(state.pipeline)
    if not (preset.second_round and weaker):
        return None, state
    took, left = time.monotonic() - start, spec.deadline - time.monotonic()
    record = {"weaker": weaker, "first_round_s": round(took, 1), "ran": False,
              "left_s": round(left, 1) if left != float("inf") else None}  # None: no time limit
    if spec.executor is not None:
        progress.say(1, "second round: not run, as the executor given to fit closed with the first round")
        return {**record, "reason": "the executor given to fit is closed"}, state
    if not spec.plan.second_round_fits(took, left):
        progress.say(2, f"second round: not run ({', '.join(weaker)}; {left:.0f}s left, the first round took "
                        f"{took:.0f}s)")
        why = f"{left:.0f}s left, less than {spec.plan.second_round_margin} times the first round's {took:.0f}s"
        return {**record, "reason": why}, state
    before = tiers(state.pipeline)
    text_tier = "transformer" if "the text on the static tier" in weaker else state.pipeline.embeddings.text_tier
    models_s = took - state.timings.get("features", 0.0)  # what the layers and the ensemble took
    progress.say(1, f"second round: {', '.join(weaker)}, with " + ("no time limit" if left == float("inf") else
                    f"{left:.0f}s left") + f" (the first round took {took:.0f}s): the embeddings again on the time "
                    "left, then the same models on the same folds")
    t0 = time.monotonic()
    second = None
    try:
        second = fit_round(state, problem, spec, replace(state.pipeline.embeddings, text_tier=text_tier),
                           spec.plan.second_round_embed_budget(left, models_s), progress, start, seed, device,
                           wanted=lambda pipeline: upgraded(before, tiers(pipeline)), features_out=features_out)
        reason = None if second is not None else "the time left did not allow a stronger tier"
    except Exception as exc:  # noqa: BLE001 -- a failing second round never sinks the fit: the first stays
        reason = f"{type(exc).__name__}: {exc}"
    ran = second is not None
    scores = {"first": state.ensembles.bagged.val_score, "second": second.ensembles.bagged.val_score if ran else None}
    keep = ran and (scores["second"] > scores["first"] if state.metric.greater_is_better else
                    scores["second"] < scores["first"])
    speed = measure(lambda df: second.predict_frame(df, image_dir), problem.df, spec.deadline) \
        if keep and infer_limit is not None else None
    if keep and infer_limit is not None and (speed is None or 1 / speed > infer_limit):
        keep, reason = False, f"it predicts {speed} rows/s, slower than infer_limit allows"
    record.update(ran=ran, tiers=tiers(second.pipeline) if ran else before, val_scores=scores,
                  kept="second" if keep else "first", seconds=round(time.monotonic() - t0, 1),
                  **({"reason": reason} if reason else {}))
    kept = replace(second if keep else state, fit_time=time.monotonic() - start)  # the fit took both rounds
    progress.say(1, "second round: " + (f"validation {state.metric.name} {scores['second']:.4f} against the first "
                                        f"round's {scores['first']:.4f}: kept the {record['kept']}" if ran else reason)
                 + (f" ({reason})" if ran and reason else ""))
    return record, kept
