"""A new column kind from outside the package, in two files (tests/plugin_weekday): its detector
claims the column, the trees read its frozen embeddings, both fusion nets build its encoder, and the
model saves and loads with it."""
import importlib

import numpy as np
import pandas as pd
import pytest

from automm import MultimodalPredictor, schema
from automm.features.backbones import BACKBONES
from automm.features.modalities import MODALITIES, detectors
from automm.models.encoders import ENCODERS
from automm.schema import kinds

from .plugin_weekday import encoder, features
from .plugin_weekday.features import DAYS


@pytest.fixture(autouse=True)
def weekday_plugin():
    """The plug-in registered for these tests only (importing it registers it), and gone after them,
    so that the rest of the suite sees the built-in kinds alone."""
    importlib.reload(features), importlib.reload(encoder)
    yield
    MODALITIES.pop("weekday", None), ENCODERS.pop("weekday", None), schema._PLUGIN_KINDS.pop("weekday", None)
    BACKBONES.pop("weekday", None)


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day = rng.choice(DAYS, n)
    x = rng.normal(size=n)
    weekend = np.isin(day, ["Saturday", "Sunday"])
    return pd.DataFrame({"day": day, "x": x, "y": np.where(weekend, "out", "in")})


@pytest.mark.slow  # three bagged models, two of them nets
def test_a_plug_in_kind_is_detected_used_by_the_trees_and_both_nets_and_saved(tmp_path):
    assert "weekday" in kinds()
    train, test = _table(400, 0), _table(150, 1)
    nets = {"max_epochs": 40}
    p = MultimodalPredictor("y", verbosity=0).fit(
        train, hyperparameters={"lightgbm": {"n_estimators": 50}, "fusion_late": nets, "fusion_early": nets},
        num_bag_folds=2)
    assert p.schema_["day"].kind == "weekday" and p.schema_["day"].reason == "weekday names"
    X = p._features(test)
    assert [n for n in X.names if n.startswith("day.emb")] == [f"day.emb{i}" for i in range(4)]
    assert set(p.model_names()) == {"lightgbm_L1", "fusion_late_L1", "fusion_early_L1"}, p.model_failures()
    for name in ("fusion_late_L1", "fusion_early_L1"):
        net = next(b for b in p.models_ if b.name == name).models[0].net_
        assert "weekday:day" in net.encoders
    for name in p.model_names():  # the weekday decides the label: every model ranks by it
        assert p.evaluate(test, model=name)["roc_auc"] > 0.95, name
    p.save(tmp_path / "m")
    q = MultimodalPredictor.load(tmp_path / "m")
    assert q.schema_["day"].kind == "weekday"
    np.testing.assert_allclose(q.predict_proba(test).to_numpy(), p.predict_proba(test).to_numpy(), atol=1e-6)


def test_a_plug_in_rule_that_fails_on_a_column_leaves_it_to_the_built_in_rules():
    df = pd.DataFrame({"d": [{"a": 1}, {"b": 2}] * 30, "x": np.arange(60.0), "y": [0, 1] * 30})
    original = features.WeekdayFeatures.detect
    try:
        features.WeekdayFeatures.detect = classmethod(lambda cls, values: values.astype(str).str.upper() / 2)
        with pytest.warns(UserWarning, match="'weekday' modality's detect rule \\(WeekdayFeatures\\) failed on column 'd'"):
            s = schema.detect_schema(df, "y", detectors=detectors())
    finally:
        features.WeekdayFeatures.detect = original
    assert s["d"].kind != "weekday"


def test_an_unknown_kind_is_refused_naming_the_kinds_there_are():
    from automm.schema import ColumnInfo, register_kind
    with pytest.raises(ValueError, match="'sound' is not a column type; use one of .*weekday"):
        ColumnInfo("a", "sound", "")
    with pytest.raises(ValueError, match="lower-case letters"):
        register_kind("Sound Clips")
    with pytest.raises(ValueError, match="column_types\\['x'\\]='sound' is not a column type"):
        MultimodalPredictor("y", column_types={"x": "sound"}, verbosity=0).fit(_table(50, 2))
