"""The fusion nets' encoder of the "weekday" modality: the frozen embedding, projected to one token."""
import torch

from automm.models.encoders import Encoder, register_encoder


class WeekdayEncoder(Encoder):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.proj = torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.GELU())

    def forward(self, x):
        token = self.proj(x["embedding"]).unsqueeze(1)
        return token, torch.zeros(token.shape[:2], dtype=torch.bool, device=token.device)


register_encoder("weekday", lambda shapes, hidden, early: WeekdayEncoder(shapes["embedding"][0], hidden))
