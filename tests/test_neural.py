"""The neural half: image loading, embeddings and their cache, the fusion nets (late and early,
frozen and fine-tuned), the training loop's deadline and learning rates, save and load."""
import time
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch", reason="the neural tests need the neural extra: pip install -e '.[test]'")

from automm import MultimodalPredictor  # noqa: E402
from automm.features import FeaturePipeline  # noqa: E402
from automm.features.embeddings import BudgetExceeded, TextEmbedder  # noqa: E402
from automm.features.images import ImageBatcher, load_image  # noqa: E402
from automm.features.multimodal import EmbeddingSettings  # noqa: E402
from automm.metrics import get_metric  # noqa: E402
from automm.models.base import Task, model_class  # noqa: E402
from automm.schema import detect_schema  # noqa: E402

from .neural_fixtures import image_table, register_tiny, tiny_text_folder  # noqa: E402


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("neural")
    register_tiny(folder / "tiny-text")
    return image_table(folder), folder


@pytest.fixture(scope="module")
def features(table):
    df, folder = table
    schema = detect_schema(df, "y")
    assert schema["photo"].kind == "image"
    pipe = FeaturePipeline(schema, embeddings=EmbeddingSettings("tiny-text", "tiny-image", str(folder)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = pipe.fit_transform(df)
    y = (df["y"] == "yes").to_numpy().astype(np.int64)
    return pipe, X, y


def test_images_blank_and_flag_missing_or_corrupt_files(table):
    df, folder = table
    with pytest.warns(UserWarning, match="3 image"):
        pix, owner, missing = ImageBatcher("image", folder, 32)(df["photo"].head(10), column="photo")
    assert pix.shape == (7, 3, 32, 32) and list(np.flatnonzero(missing)) == [3, 5, 7]
    assert 3 not in owner and 5 not in owner
    rng = np.random.default_rng(0)
    crop = load_image(folder / "img" / "0.png", 16, rng)
    assert crop.shape == (3, 16, 16) and np.isfinite(crop).all()


def test_several_images_per_row_are_pooled(table):
    _, folder = table
    values = np.array(["['img/0.png', 'img/1.png']", None, "img/2.png"], dtype=object)
    pix, owner, missing = ImageBatcher("image_list", folder, 8)(values)
    assert list(owner) == [0, 0, 2] and list(missing) == [False, True, False]


def test_embeddings_feed_trees_and_nets(features):
    pipe, X, y = features
    assert X.neural["text"]["all"]["embedding"].shape == (len(y), 16)
    assert X.neural["image"]["photo"]["embedding"].shape == (len(y), 8)
    assert X.neural["image"]["photo"]["missing"][[3, 5, 7]].tolist() == [1, 1, 1]
    assert any(n.startswith("image:photo.emb") for n in X.names) and any(n.startswith("text.emb") for n in X.names)


def test_text_embeddings_are_cached_and_budgeted(table, monkeypatch):
    texts = ["excellent item", "awful product", "the price was great"]
    first = TextEmbedder("tiny-text", max_tokens=16).embed(texts)
    again = TextEmbedder("tiny-text", max_tokens=16)
    monkeypatch.setattr(again, "_run", lambda t: pytest.fail("recomputed a cached embedding"))
    np.testing.assert_array_equal(again.embed(texts), first)
    with pytest.raises(BudgetExceeded):
        TextEmbedder("tiny-text").embed([f"text number {i} " * 30 for i in range(300)], budget=1e-6)


def _task(n_classes=2, metric="roc_auc"):
    return Task("binary", n_classes, get_metric(metric, "binary"), seed=0, num_threads=1)


@pytest.mark.parametrize("kind", ["fusion_late", "fusion_early"])
@pytest.mark.parametrize("finetune", [False, True])
def test_fusion_nets_train_and_predict(features, kind, finetune):
    _, X, y = features
    tr, va = np.arange(0, 120), np.arange(120, len(y))
    params = {"finetune": finetune, "text_backbone": "tiny-text", "image_backbone": "tiny-image", "max_epochs": 3,
              "batch_size": 32}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_class(kind)(**params).fit(X.rows(tr), y[tr], X.rows(va), y[va], _task(), time.monotonic() + 60)
        proba = model.predict(X.rows(va))
    assert proba.shape == (len(va), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert 1 <= model.info.iterations <= 3


def test_frozen_late_fusion_learns_from_images(features):
    """The label is in each photo's colour (and in the text): the net must beat chance clearly."""
    _, X, y = features
    tr, va = np.arange(0, 120), np.arange(120, len(y))
    model = model_class("fusion_late")(max_epochs=40, lr=3e-3).fit(X.rows(tr), y[tr], X.rows(va), y[va], _task(),
                                                                    time.monotonic() + 60)
    assert _task().metric.score(y[va], model.predict(X.rows(va))) > 0.8


def test_deadline_stops_training_and_keeps_a_model(features):
    _, X, y = features
    model = model_class("fusion_early")(max_epochs=1000, batch_size=8)
    t0 = time.monotonic()
    model.fit(X.rows(np.arange(120)), y[:120], X.rows(np.arange(120, 160)), y[120:], _task(), time.monotonic() + 1.0)
    assert time.monotonic() - t0 < 5 and model.info.hit_deadline and model.info.extra["planned_epochs"] < 1000
    assert model.predict(X.rows(np.arange(5))).shape == (5, 2)


def test_layerwise_learning_rates_decay_towards_the_input():
    import torch

    from automm.models.train import TrainConfig, param_groups

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.text_model = torch.nn.ModuleDict({"embeddings": torch.nn.Linear(2, 2), "layer": torch.nn.ModuleList(
                [torch.nn.Linear(2, 2) for _ in range(3)])})
            self.head = torch.nn.Linear(2, 1)

    net, cfg = Net(), TrainConfig(lr=1e-2, backbone_lr=1e-3, layer_decay=0.5)
    groups = param_groups(net, cfg, ("text_model",))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    lrs = [lr_of[id(net.text_model["layer"][i].weight)] for i in range(3)]
    assert lrs == pytest.approx([2.5e-4, 5e-4, 1e-3])
    assert lr_of[id(net.text_model["embeddings"].weight)] == pytest.approx(1.25e-4)
    assert lr_of[id(net.head.weight)] == 1e-2


def test_predictor_with_fusion_nets_saves_and_loads(table, tmp_path):
    df, folder = table
    train, test = df.iloc[:130], df.iloc[130:]
    p = MultimodalPredictor("y", image_dir=str(folder), text_backbone="tiny-text", image_backbone="tiny-image",
                            verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.fit(train, presets="medium", num_bag_folds=2, time_limit=120,
              hyperparameters={"lightgbm": {}, "fusion_late": {"max_epochs": 5}, "fusion_early": {"max_epochs": 3}})
        board = p.leaderboard(test)
        p.save(tmp_path / "m")
        q = MultimodalPredictor.load(tmp_path / "m")
        expected, got = p.predict_proba(test), q.predict_proba(test)
    assert {"fusion_late_L1", "fusion_early_L1"} <= set(board.model)
    assert board.score_test.notna().all()
    assert list((tmp_path / "m" / "models").glob("fusion_late_L1.fold*.safetensors"))
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-6)
    # refit on all rows keeps the nets' settings (backbones, frozen or not) from the bagged fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q.refit_full(train)
        assert q.predict_proba(test).shape == (len(test), 2)


def test_extract_embedding_with_and_without_fitted_embeddings(table):
    df, folder = table
    kw = {"image_dir": str(folder), "text_backbone": "tiny-text", "image_backbone": "tiny-image", "verbosity": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = MultimodalPredictor("y", **kw).fit(df, hyperparameters={"lightgbm": {}}, embeddings=True,
                                                    num_bag_folds=2)
        plain = MultimodalPredictor("y", **kw).fit(df, hyperparameters={"lightgbm": {}}, embeddings=False,
                                                   num_bag_folds=2)
        parts = fitted.extract_embedding(df.head(7), as_dict=True)
        again = plain.extract_embedding(df.head(7))
    assert set(parts) == {"text", "photo"} and parts["text"].shape == (7, 16) and parts["photo"].shape == (7, 8)
    assert plain.pipeline_.emb_ is None  # computed on the spot with the same backbones
    np.testing.assert_allclose(again, np.hstack([parts["text"], parts["photo"]]), atol=1e-3)
    assert not np.allclose(again[0], again[1])  # rows differ


def test_missing_torch_says_what_to_install(monkeypatch):
    import sys

    from automm.features.backbones import require_torch
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"automm\[neural\]"):
        require_torch()


def test_top_layers_fine_tune_on_the_table_written_as_text(features):
    _, X, y = features
    assert X.neural["text"]["all"]["table"][0].startswith("x: ")
    model = model_class("fusion_late")(finetune=True, finetune_layers=1, tabular_as_text=True,
                                       text_backbone="tiny-text", image_backbone="tiny-image", max_epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X.rows(np.arange(100)), y[:100], X.rows(np.arange(100, 160)), y[100:], _task(), time.monotonic() + 60)
    trainable = {n.split(".")[2] for n, p in model.net_.text_model.named_parameters()
                 if p.requires_grad and n.startswith("encoder.layer.")}
    assert trainable == {"1"}  # of layers 0 and 1, only the top one
    assert not any(p.requires_grad for n, p in model.net_.text_model.named_parameters() if "embeddings" in n)
    assert model.predict(X.rows(np.arange(100, 160))).shape == (60, 2)


def test_same_seed_same_net(features):
    _, X, y = features
    tr, va = np.arange(120), np.arange(120, 160)
    preds = [model_class("fusion_early")(max_epochs=3).fit(X.rows(tr), y[tr], X.rows(va), y[va], _task(),
                                                           time.monotonic() + 60).predict(X.rows(va)) for _ in range(2)]
    np.testing.assert_array_equal(preds[0], preds[1])


def test_image_embedder_warns_once_per_column_and_caches(table, monkeypatch):
    from automm.features.embeddings import ImageEmbedder
    df, folder = table
    monkeypatch.setenv("AUTOMM_EMBEDDING_CACHE", str(folder / "fresh-cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emb, missing = ImageEmbedder("tiny-image", str(folder)).embed(df["photo"], "image", "photo")
    messages = [str(w.message) for w in caught if "image column" in str(w.message)]
    assert len(messages) == 1 and "3 image(s)" in messages[0]  # 160 rows, 5 batches, one warning
    from automm.features.vector_cache import summary
    stored = summary(folder / "fresh-cache")["entries"]
    assert missing.sum() == 3 and len(stored) == 1 and list(stored.values()) == [159]  # one setting; rows 3 and 7 are one file


def test_a_plug_in_modality_reaches_the_fusion_nets(monkeypatch, tmp_path):
    """A modality added from outside: its featurizer gives the nets an input of its own, and the encoder
    registered for it is built into both nets, trains and is saved and loaded with them."""
    import torch

    from automm.features import modalities
    from automm.features.modalities import Block, ColumnFeatures, ColumnOutput
    from automm.models import encoders
    from automm.schema import Modality

    class Weekday(ColumnFeatures):
        kind, order = Modality.DATETIME, 30
        days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

        @classmethod
        def detect(cls, values):
            return "weekday names" if values.isin(cls.days).all() else None

        def transform(self, values):
            idx = values.map(self.days.index).to_numpy()
            return ColumnOutput([Block(idx.reshape(-1, 1).astype(float), [f"{self.column}.n"])],
                                neural={"onehot": np.eye(7, dtype=np.float32)[idx]})

    class DayEncoder(encoders.Encoder):
        def __init__(self, width, hidden):
            super().__init__()
            self.proj = torch.nn.Linear(width, hidden)

        def forward(self, x):
            out = self.proj(x["onehot"]).unsqueeze(1)
            return out, torch.zeros(out.shape[:2], dtype=torch.bool)

    monkeypatch.setitem(modalities.MODALITIES, Modality.DATETIME, Weekday)
    monkeypatch.setitem(encoders.ENCODERS, "datetime", lambda shapes, hidden, early: DayEncoder(shapes["onehot"][0], hidden))
    rng = np.random.default_rng(0)
    day = rng.choice(Weekday.days, 300)
    df = pd.DataFrame({"day": day, "x": rng.normal(size=300), "y": np.isin(day, ["Saturday", "Sunday"])})
    schema = detect_schema(df, "y", detectors=modalities.detectors())
    assert schema["day"].reason == "weekday names"
    X = FeaturePipeline(schema).fit_transform(df)
    assert X.neural["datetime"]["day"]["onehot"].shape == (300, 7)
    y = df["y"].to_numpy().astype(np.int64)
    for kind in ("fusion_late", "fusion_early"):
        model = model_class(kind)(max_epochs=20).fit(X.rows(np.arange(200)), y[:200], X.rows(np.arange(200, 300)),
                                                     y[200:], _task(), time.monotonic() + 60)
        assert "datetime:day" in model.net_.encoders
        pred = model.predict(X.rows(np.arange(200, 300)))
        assert _task().metric.score(y[200:], pred) > 0.9
        files = model.save(tmp_path / kind)
        again = model_class(kind).load(tmp_path / kind, model.info, _task())
        assert files and np.allclose(again.predict(X.rows(np.arange(200, 300))), pred, atol=1e-6)


def test_token_batches_match_the_tokenizer_and_tokenize_once(tmp_path):
    """A batch's ids and mask are what the tokenizer's own padding makes, and the rows' texts are
    tokenized once for every batch and fold model that reads them."""
    from transformers import AutoTokenizer

    from automm.features import token_batches
    tok = AutoTokenizer.from_pretrained(tiny_text_folder(tmp_path / "tok"))
    calls = []
    counting = lambda texts, **kw: calls.append(len(texts)) or tok(texts, **kw)  # noqa: E731
    counting.pad_token_id = tok.pad_token_id
    raw = np.array(["good great", "bad", "great good bad awful fine", ""], dtype=object)
    table = np.array(["a: 1", "a: 2", "a: 3", "a: 4"], dtype=object)
    idx = np.array([2, 0, 3])
    for _ in range(3):
        ids, mask = token_batches.token_batch(counting, (table, raw), 6, "k", idx)
    docs = [" | ".join(p) for p in zip(table[idx], raw[idx])]
    want = tok(docs, padding=True, truncation=True, max_length=6, return_tensors="np")
    np.testing.assert_array_equal(ids, want["input_ids"])
    np.testing.assert_array_equal(mask, want["attention_mask"])
    assert calls == [4]  # every row once, whatever the batches
    lengths = token_batches.token_lengths(counting, (table, raw), 6, "k")
    assert calls == [4] and lengths.tolist() == tok([" | ".join(p) for p in zip(table, raw)], truncation=True,
                                                    max_length=6, return_length=True)["length"]


def test_early_fusion_computes_only_the_cls_token_in_its_last_layer():
    """The last layer computes the [CLS] token alone (the head reads nothing else): its output is the
    full transformer's [CLS] output, padding masked, and training still reaches every layer."""
    import torch

    from automm.models.encoders import CategoricalEncoder, NumericEncoder
    from automm.models.nets import FusionNet
    torch.manual_seed(0)
    net = FusionNet("early", {"numeric:all": NumericEncoder(40, 32, True),
                              "categorical:all": CategoricalEncoder([5, 7], 32, True)}, 2, hidden=32).eval()
    seq = torch.randn(16, 1 + 32 + 2, 32)
    pad = torch.zeros(seq.shape[:2], dtype=torch.bool)
    pad[:4, -3:] = True
    with torch.inference_mode():
        full = net.encoder(seq, src_key_padding_mask=pad)[:, 0]
        torch.testing.assert_close(net._cls_state(seq, pad), full, atol=1e-5, rtol=1e-5)
    net.train()
    net({"numeric:all": {"values": torch.randn(8, 40)}, "categorical:all": {"codes": torch.randint(0, 5, (8, 2))}}
        ).sum().backward()
    assert all(p.grad is not None for p in net.encoder.parameters())


def test_the_cpu_image_embedder_runs_a_frozen_trace_with_the_eager_features(table):
    """On a CPU the CNN runs as a frozen TorchScript trace in channels-last memory (batch norms folded
    into the convolutions): the features are the eager EfficientNet's, for every batch size."""
    import torch

    from automm.features.embeddings import ImageEmbedder, uncached
    df, folder = table
    embedder = ImageEmbedder("efficientnet-lite0", str(folder), num_threads=2, image_size=64)
    with uncached():
        got, missing = embedder.embed(df["photo"].iloc[:40], "image", "photo", report=False)
    assert all(isinstance(m, torch.jit.ScriptModule) for m in embedder._frozen.values())
    pix, owner, _ = ImageBatcher("image", folder, 64)(df["photo"].iloc[:40], report=False)
    with torch.inference_mode():
        eager = embedder._bb.model(torch.from_numpy(pix)).numpy()
    want = np.zeros_like(got)
    np.add.at(want, owner, eager)
    np.testing.assert_allclose(got[~missing], want[~missing], atol=1e-3, rtol=1e-3)
    assert missing.sum() == 3 and np.abs(got[~missing]).sum(1).min() > 0
    import pickle
    again = pickle.loads(pickle.dumps(embedder))  # a predictor that predicted still pickles
    with uncached():
        np.testing.assert_allclose(again.embed(df["photo"].iloc[:40], "image", "photo", report=False)[0], got,
                                   atol=1e-5)


def test_a_fusion_net_takes_its_tokens_from_the_static_tier(tmp_path):
    """The static tier's tokens of a text array serve a fusion net reading that array with the same
    backbone: the batches are what the tokenizer makes (special tokens, truncation, padding), and the
    array is not tokenized again (only a probe and a check of a few rows)."""
    from transformers import AutoTokenizer

    from automm.features import token_batches
    tok = AutoTokenizer.from_pretrained(tiny_text_folder(tmp_path / "tok"))
    words = ["good", "great", "bad", "awful", "fine", "movie", "plot"]
    texts = np.array([" ".join(words[(i + j) % 7] for j in range(i % 9)) for i in range(40)], dtype=object)
    plain = tok(list(texts), add_special_tokens=False)["input_ids"]
    token_batches.remember_plain(texts, "tiny-static", np.array([t for p in plain for t in p], np.int32),
                                 np.r_[0, np.cumsum([len(p) for p in plain])], 512)
    calls = []

    def counting(t, **kw):
        calls.append(len(t) if isinstance(t, list) else 1)
        return tok(t, **kw)
    counting.pad_token_id = tok.pad_token_id
    idx = np.array([5, 0, 17, 8, 39])
    ids, mask = token_batches.token_batch(counting, (texts,), 6, ("tiny-static", True), idx)
    want = tok(list(texts[idx]), padding=True, truncation=True, max_length=6, return_tensors="np")
    np.testing.assert_array_equal(ids, want["input_ids"])
    np.testing.assert_array_equal(mask, want["attention_mask"])
    assert max(calls) <= 16 and sum(calls) < len(texts)


def test_every_kind_enters_the_nets_through_its_registered_net_input(features, monkeypatch):
    """The built-in kinds are registered NetInputs like a plug-in's: one that replaces the image kind's is
    the one the net builds and feeds, at fit and at predict, and the net's encoders are in the
    registered order."""
    from automm.models import net_inputs
    _, X, y = features
    calls = {"build": 0, "feed": 0}

    class CountingImages(net_inputs.ImageInput):
        def build(self, key, dims, model):
            calls["build"] += 1
            return super().build(key, dims, model)

        def feed(self, key, X, idx, model, rng):
            calls["feed"] += 1
            return super().feed(key, X, idx, model, rng)

    monkeypatch.setitem(net_inputs.NET_INPUTS, "image", CountingImages())
    tr, va = np.arange(0, 120), np.arange(120, len(y))
    model = model_class("fusion_late")(max_epochs=2, batch_size=60).fit(X.rows(tr), y[tr], X.rows(va), y[va],
                                                                       _task(), time.monotonic() + 60)
    assert calls["build"] == len(model.dims_["images"]) >= 1
    fed = calls["feed"]
    assert fed >= 2 * 2  # two epochs of two batches, plus the validation predictions
    model.predict(X.rows(va))
    assert calls["feed"] > fed
    kinds = [k.split(":")[0] for k in model.net_.encoders]
    assert kinds == sorted(kinds, key=["numeric", "categorical", "text", "image"].index)


def test_a_modality_registers_and_finds_its_own_backbones():
    from automm.features import backbones
    backbones.register_backbone("sound", "beep", lambda: "a sound model")
    try:
        assert backbones.backbone("sound", "beep") == "a sound model"
        with pytest.raises(ValueError, match="no 'sound' backbone is registered as 'boop'; registered: \\['beep'\\]"):
            backbones.backbone("sound", "boop")
    finally:
        backbones.BACKBONES.pop("sound")
    assert "minilm" in backbones.BACKBONES["text"]
