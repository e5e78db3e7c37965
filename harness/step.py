"""The optimiser step's parts, each the cheapest exact equivalent of accelerate's call for the layout at hand.

accelerate's wrappers cost a fixed few hundred microseconds a step in Python (package look-ups for optional
optimisers on every ``step``, ``inspect.signature`` on every ``zero_grad``, a DTensor scan before clipping):
1-2 % of a small model's CPU step. Without a gradient scaler (fp32 and bf16 never have one) and outside
DeepSpeed/FSDP/XLA/Megatron, those calls reduce to plain torch calls, made here directly; any other layout goes
through accelerate as before. AdamW is fused (one multi-threaded kernel over all tensors instead of a dozen ops
per tensor) on CPU as on GPU.
"""
from __future__ import annotations

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

_PLAIN = (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)


def fused_adamw_supported(device: torch.device) -> bool:
    """Whether torch's fused AdamW kernel exists for parameters on ``device`` (CPU and CUDA in torch >= 2.4)."""
    return device.type in ("cpu", "cuda")


def plain_layout(acc: Accelerator) -> bool:
    """True when accelerate's backward/clip/step are exactly loss.backward(), clip_grad_norm_ and optimizer.step()."""
    return acc.scaler is None and acc.distributed_type in _PLAIN and acc.gradient_accumulation_steps == 1


def backward(acc: Accelerator, loss: torch.Tensor) -> None:
    """``acc.backward(loss)``."""
    if plain_layout(acc):
        loss.backward()
    else:
        acc.backward(loss)


def trained_parameters(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter the optimiser updates, from its groups: a list comprehension instead of walking the module
    tree (``model.parameters()`` costs 0.1-0.16 ms a step at 2-6 layers)."""
    return [p for group in optimizer.param_groups for p in group["params"]]


def clip_grad_norm(acc: Accelerator, parameters: list[torch.Tensor], max_norm: float) -> None:
    """``acc.clip_grad_norm_(parameters, max_norm)``; the plain layout sums the norms with foreach kernels."""
    if plain_layout(acc):
        torch.nn.utils.clip_grad_norm_(parameters, max_norm, foreach=True)
    else:
        acc.clip_grad_norm_(parameters, max_norm)


def step_and_zero(acc: Accelerator, optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step(); optimizer.zero_grad(set_to_none=True)``, past accelerate's wrapper in the plain layout."""
    inner = getattr(optimizer, "optimizer", optimizer) if plain_layout(acc) else optimizer
    inner.step()
    inner.zero_grad(set_to_none=True)
