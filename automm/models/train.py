"""The torch training loop shared by the neural models.

AdamW with layer-wise learning-rate decay for fine-tuned backbones, linear warm-up then cosine
decay, gradient clipping, mixed precision on GPU (bf16 where supported, else fp16 with loss
scaling), gradient accumulation, a batch size halved on out-of-memory, early stopping on the
validation metric, the average of the best checkpoints when it validates at least as well as the
best one, and the deadline: training stops when it passes and keeps the best checkpoint.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch


@dataclass
class TrainConfig:
    lr: float = 1e-3              # the fusion head's learning rate
    backbone_lr: float = 5e-5     # the top layer of a fine-tuned backbone; lower layers get less
    layer_decay: float = 0.9
    weight_decay: float = 1e-2
    batch_size: int = 128
    accum_steps: int = 1
    max_epochs: int = 40
    warmup: float = 0.1           # fraction of the planned steps
    clip: float = 1.0
    patience: int = 6             # epochs without a better validation score
    top_k: int = 3                # checkpoints averaged at the end
    precision: str = "auto"       # auto (mixed on GPU, fp32 on CPU), bf16, fp16, fp32


def param_groups(net: torch.nn.Module, cfg: TrainConfig, backbones: tuple[str, ...]) -> list[dict]:
    """Backbone layer i of L gets backbone_lr * layer_decay**(L - i); embeddings the lowest rate;
    biases and norms no weight decay."""
    groups: dict[tuple[float, float], list] = {}
    depth = {p: _max_layer(net, p) for p in backbones}
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        prefix = next((p for p in backbones if name.startswith(p + ".")), None)
        lr = cfg.lr
        if prefix is not None:
            layer = layer_of(name)
            if layer is not None:
                below_top = depth[prefix] - layer
            elif "embed" in name or "stem" in name:
                below_top = depth[prefix] + 1
            else:  # pooler, final norm: next to the head
                below_top = 0
            lr = cfg.backbone_lr * cfg.layer_decay ** below_top
        wd = 0.0 if param.ndim < 2 else cfg.weight_decay
        groups.setdefault((lr, wd), []).append(param)
    return [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]


def layer_of(name: str) -> int | None:
    m = re.search(r"(?:layer|layers|_blocks|blocks)\.(\d+)\.", name)
    return int(m.group(1)) if m else None


def _max_layer(net: torch.nn.Module, prefix: str) -> int:
    found = [layer_of(n) for n, _ in net.named_parameters() if n.startswith(prefix + ".")]
    return max([f for f in found if f is not None], default=0)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def _epoch(net, loss_fn, batches, accum: int, opt, sched, scaler, amp, device, clip: float, deadline: float) -> bool:
    """One epoch of optimizer steps (one per `accum` batches); True when the deadline stopped it."""
    net.train()
    for i, (inputs, target) in enumerate(batches):
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = loss_fn(net(inputs), target) / accum
        scaler.scale(loss).backward()
        if (i + 1) % accum == 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
        if time.monotonic() > deadline:
            return True
    return False


def train(net: torch.nn.Module, loss_fn: Callable, batches: Callable[[int, int], Iterator[tuple[dict, torch.Tensor]]],
          n_rows: int, evaluate: Callable[[], float] | None, cfg: TrainConfig, deadline: float,
          device: torch.device, backbones: tuple[str, ...] = (), epochs: int | None = None,
          monitor: Callable[[int, float], bool] | None = None) -> dict:
    """batches(epoch, batch_size) yields (inputs, target) on `device`; evaluate() gives a score, higher
    better (None: no validation, train `epochs` epochs); monitor(epoch, -score) True stops (a pruned
    search trial). Returns what a refit needs."""
    opt = torch.optim.AdamW(param_groups(net, cfg, backbones))
    amp = autocast_dtype(device, cfg.precision)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    batch, accum = cfg.batch_size, cfg.accum_steps
    planned = [epochs or cfg.max_epochs]
    steps_per_epoch = lambda: max(1, math.ceil(n_rows / batch / accum))  # noqa: E731

    def lr_factor(step: int) -> float:
        total = planned[0] * steps_per_epoch()
        warm = max(1, int(cfg.warmup * total))
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    best: list[tuple[float, int, dict]] = []  # (score, epoch, state) of the top_k epochs
    epoch, stale, hit_deadline, t_start = 0, 0, False, time.monotonic()
    while epoch < planned[0]:
        try:
            hit_deadline = _epoch(net, loss_fn, batches(epoch, batch), accum, opt, sched, scaler, amp, device, cfg.clip,
                                  deadline)
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            batch, accum = max(1, batch // 2), accum * 2  # same effective batch, less memory
            continue
        epoch += 1
        if epoch == 1 and epochs is None:  # now the epoch's cost is known: plan the schedule to the deadline
            per_epoch = time.monotonic() - t_start
            fits = (deadline - t_start) / max(per_epoch, 1e-6)  # inf without a time limit
            planned[0] = max(1, int(min(cfg.max_epochs, fits)))
        score = evaluate() if evaluate is not None else float(epoch)
        best.append((score, epoch, {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}))
        best.sort(key=lambda t: -t[0])
        stale = 0 if best[0][1] == epoch else stale + 1
        del best[cfg.top_k:]
        if hit_deadline or (evaluate is not None and stale >= cfg.patience):
            break
        if monitor is not None and evaluate is not None and monitor(epoch - 1, -score):
            break
    # a schedule shortened to fit the deadline counts as stopped by it
    hit_deadline = hit_deadline or planned[0] < (epochs or cfg.max_epochs)
    return _finish(net, best, evaluate, epoch, hit_deadline, batch) | {"planned_epochs": planned[0]}


def _finish(net, best, evaluate, epochs_run: int, hit_deadline: bool, batch: int) -> dict:
    """The mean of the top checkpoints if it validates no worse than the best single one."""
    score, best_epoch, state = best[0]
    averaged = False
    if evaluate is not None and len(best) > 1:
        mean = {k: (torch.stack([b[2][k].float() for b in best]).mean(0).to(v.dtype) if v.is_floating_point() else v)
                for k, v in state.items()}
        net.load_state_dict(mean)
        avg_score = evaluate()
        if avg_score >= score:
            score, averaged = avg_score, True
    if not averaged:
        net.load_state_dict(state)
    return {"iterations": best_epoch if evaluate is not None else epochs_run, "val_score": score,
            "epochs_run": epochs_run, "averaged": averaged, "hit_deadline": hit_deadline, "batch_size": batch}
