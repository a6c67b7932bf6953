"""The one device rule: which device the nets and the embedders run on, and how many cores a fit
uses. Ground floor: it imports nothing of automm, and torch only when a device is asked for.

A setting is "cpu", "cuda" or "auto" (a CUDA device when there is one). `check_device` refuses a
setting that cannot work before any fit starts; `torch_device` turns a setting into a
`torch.device` everywhere else, so the fusion nets and the embedders never disagree.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda")


def gpu_available(device: str) -> bool:
    """Whether `device` means a GPU here: "cpu" never, "cuda" or "auto" when CUDA can be used."""
    if device == "cpu":
        return False
    if "torch" not in sys.modules and sys.platform.startswith("linux") and not Path("/proc/driver/nvidia").exists():
        return False  # no NVIDIA driver: no CUDA, and no 3 s torch import inside the time limit to learn it
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def check_device(device) -> None:
    """Before any work: device is one automm knows, and "cuda" has a CUDA device to run on (it would
    otherwise fail deep inside the first net, or quietly train on the CPU)."""
    if device not in DEVICES:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device == "cuda" and not gpu_available("cuda"):
        raise ValueError("device='cuda', but no CUDA device is visible to this process (no NVIDIA driver, a torch "
                         "without CUDA, or CUDA_VISIBLE_DEVICES empty); use device='auto' to take a GPU when there "
                         "is one, or device='cpu'")


_warned_fallback = False


def torch_device(device: str = "auto"):
    """The torch device for a setting. "cuda" with no CUDA device can only come from a model fitted on
    a GPU and loaded here (a fit refuses it up front): it runs on the CPU, with one warning."""
    global _warned_fallback
    import torch
    if device != "cpu" and gpu_available(device):
        return torch.device("cuda")
    if device == "cuda" and not _warned_fallback:
        _warned_fallback = True
        warnings.warn("this model was set to device='cuda', but no CUDA device is visible here: it runs on "
                      "the CPU", stacklevel=2)
    return torch.device("cpu")


def cores(num_threads: int | None) -> int:
    """The threads a fit or a predict uses: num_threads, or every core this process may run on."""
    if num_threads:
        return int(num_threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
