"""The one device rule: every part that puts tensors somewhere asks automm.device, so they agree."""
import warnings

import pytest

from automm import device
from automm.device import cores, torch_device


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(device, "gpu_available", lambda setting: False)
    monkeypatch.setattr(device, "_warned_fallback", False)


def test_each_setting_maps_to_one_torch_device_without_a_gpu(no_gpu):
    assert torch_device("cpu").type == "cpu"
    assert torch_device("auto").type == "cpu"
    with pytest.warns(UserWarning, match="device='cuda'.*runs on the CPU"):
        assert torch_device("cuda").type == "cpu"  # a model fitted on a GPU, loaded here
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch_device("cuda").type == "cpu"  # warned once, not on every batch


def test_a_gpu_is_taken_by_auto_and_cuda_and_never_by_cpu(monkeypatch):
    monkeypatch.setattr(device, "gpu_available", lambda setting: setting != "cpu")
    assert torch_device("auto").type == "cuda"
    assert torch_device("cuda").type == "cuda"
    assert torch_device("cpu").type == "cpu"


def test_the_fusion_net_and_the_embedders_ask_the_same_rule(monkeypatch):
    from automm.features import embeddings
    from automm.models.fusion import FusionModel
    for gpu in (False, True):
        monkeypatch.setattr(device, "gpu_available", lambda setting, gpu=gpu: gpu and setting != "cpu")
        monkeypatch.setattr(device, "_warned_fallback", True)
        for setting in device.DEVICES:
            net = FusionModel(device=setting)._device()
            assert net == embeddings._device(setting) == torch_device(setting), (gpu, setting)


def test_cores_are_the_threads_asked_for_or_every_core_this_process_may_use():
    assert cores(3) == 3
    assert cores(None) >= 1
