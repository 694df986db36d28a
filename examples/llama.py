"""A Llama-style decoder in plain torch (RMSNorm, rotary embeddings, SwiGLU MLP).

The shapes follow the LLaMA 7B configuration (Touvron et al., 2023, table 2): 32
layers, model width 4096, 32 heads, SwiGLU hidden size 11008, vocabulary 32000.
Written for roofline's examples; it computes the real thing, it is just never run
with real weights here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * rms * self.weight


def rotary_tables(
    seq: int, head_dim: int, device: torch.device, start: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles of positions ``start`` .. ``start + seq - 1``."""
    inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    angles = torch.outer(torch.arange(start, start + seq, device=device).float(), inv)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # the tables are built in fp32 for accuracy; cast them so they do not promote a
    # bf16/fp16 q or k to fp32 (SDPA would then see mixed dtypes)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, s, d = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is None:  # prefill: every token attends to the ones before it
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # decode with a static KV cache (batch, 2, heads, context, head_dim): the new
            # token's key and value go into the last slot, in place, and its query
            # attends to the whole context
            cache[:, 0, :, -s:] = k
            cache[:, 1, :, -s:] = v
            out = F.scaled_dot_product_attention(q, cache[:, 0], cache[:, 1])
        return self.o_proj(out.transpose(1, 2).reshape(b, s, d))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.input_norm = RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.post_norm = RMSNorm(dim)
        self.mlp = MLP(dim, hidden)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.input_norm(x), cos, sin, cache)
        return x + self.mlp(self.post_norm(x))


class Llama(nn.Module):
    def __init__(
        self,
        vocab: int = 32000,
        dim: int = 4096,
        layers: int = 32,
        heads: int = 32,
        hidden: int = 11008,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Block(dim, heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(
        self, input_ids: torch.Tensor, kv_cache: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Prefill (``input_ids`` alone: the whole prompt, causal attention) or one
        decode step: ``input_ids`` (batch, 1), the new token, and ``kv_cache``
        (batch, layers, 2, heads, context, head_dim), the keys and values of the
        context with the last slot for this token, filled in place."""
        x = self.embed_tokens(input_ids)
        s, hd = input_ids.shape[1], x.shape[-1] // self.heads
        if kv_cache is None:
            cos, sin = rotary_tables(s, hd, x.device)
        else:
            if s != 1 or kv_cache.shape[1] != len(self.layers):
                raise ValueError(
                    f"decode takes one new token and a cache of {len(self.layers)} layers, "
                    f"got {s} token(s) and a cache of {kv_cache.shape[1]}"
                )
            if torch.is_grad_enabled() and self.training:
                # the in-place cache writes would invalidate what backward saved
                raise ValueError("a decode step with a KV cache is inference only")
            # the new token sits at the cache's last position
            cos, sin = rotary_tables(1, hd, x.device, start=kv_cache.shape[4] - 1)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if kv_cache is None else kv_cache[:, i])
        return self.lm_head(self.norm(x))


def llama_7b() -> Llama:
    """LLaMA-7B shapes: 6.74e9 parameters."""
    return Llama()


def llama_tiny() -> Llama:
    """A 2-layer, width-256 model with the same structure, for tests."""
    return Llama(vocab=1000, dim=256, layers=2, heads=4, hidden=688)
