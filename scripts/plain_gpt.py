"""A plain PyTorch GPT (nanoGPT's layout) used as the speed reference by ``bench_train.py``.

Pre-LN blocks, GELU MLP, learned positions, tied embeddings, ``F.scaled_dot_product_attention(is_causal=True)``,
biases everywhere like GPT-2. It is never trained for results; it only times what a hand-written model costs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class _Block(nn.Module):
    def __init__(self, d_model: int, n_head: int, d_ff: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = _Attention(d_model, n_head)
        self.fc, self.fc_proj = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.fc_proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class PlainGPT(nn.Module):
    """nanoGPT-style causal LM; ``forward(idx)`` returns logits."""

    def __init__(self, vocab: int, context: int, n_layer: int, d_model: int, n_head: int, d_ff: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d_model), nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_head, d_ff) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied
        for p in self.parameters():
            if p.ndim >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, time, vocab) for token ids (batch, time)."""
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def plain_step(model: PlainGPT, optimizer: torch.optim.Optimizer, windows: torch.Tensor, clip: float) -> float:
    """One nanoGPT-style training step on (batch, context+1) token windows; returns the loss."""
    logits = model(windows[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def serve_steps(conn, dims: tuple, lr: float, batches: list, threads: int, device: str) -> None:
    """A plain GPT in its own process, with torch's and the C library's defaults (nothing the harness tunes).

    ``dims`` = (vocab, context, n_layer, d_model, n_head, d_ff). Answers every request ``(first, steps)`` with the
    wall time of that many steps on ``batches`` (numpy arrays, cycled); ``None`` ends it."""
    import time

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    model = PlainGPT(*dims).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, fused=dev.type == "cuda")
    windows = [torch.from_numpy(b).to(dev) for b in batches]
    while (request := conn.recv()) is not None:
        first, steps = request
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(first, first + steps):
            plain_step(model, optimizer, windows[i % len(windows)], 1.0)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        conn.send(time.perf_counter() - start)
