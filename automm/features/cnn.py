"""Torch modules of the image backbones (imported only with torch)."""
from torch import nn


class PooledCNN(nn.Module):
    """A CNN trunk (EfficientNet's `extract_features`), average-pooled; the ImageNet classifier is dropped."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.extract_features(x).mean(dim=(2, 3))
