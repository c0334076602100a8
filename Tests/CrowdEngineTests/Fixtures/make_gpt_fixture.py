#!/usr/bin/env python3
"""Writes gpt_tiny.json: a PyTorch reference for the Swift GPT parity test (GPTParityTests.swift).

The model below is a verbatim copy of the GPT in /work/shared/bench/ref_gpt_bytes.py (nanoGPT semantics:
no biases, pre-LN, F.scaled_dot_product_attention(is_causal=True), exact-erf GELU, tied LM head), built at a
tiny size so the fixture stays small. Run with the reference venv:

    PY=$(/work/shared/bench/setup.sh)
    $PY Tests/CrowdEngineTests/Fixtures/make_gpt_fixture.py

The fixture holds the configuration, input tokens and targets, every parameter (by PyTorch name), the
logits, the mean cross-entropy loss and every parameter gradient, all float32 written with 9 significant
digits (exact round trip).
"""
import json, math, os

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)
        self.n_head = n_head

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        h = self.n_head
        q = q.view(B, T, h, C // h).transpose(1, 2)
        k = k.view(B, T, h, C // h).transpose(1, 2)
        v = v.view(B, T, h, C // h).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=False)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, bias=False)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=256, block=64, n_layer=4, n_head=4, n_embd=128):
        super().__init__()
        self.block = block
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying
        self.apply(self._init)
        for n, p in self.named_parameters():
            if n.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def logits(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        return self.lm_head(self.ln_f(x))


def main():
    torch.manual_seed(7)
    cfg = {"layers": 2, "heads": 2, "width": 16, "block": 8, "vocab": 256}
    B, T = 2, 8
    model = GPT(vocab=cfg["vocab"], block=cfg["block"], n_layer=cfg["layers"], n_head=cfg["heads"],
                n_embd=cfg["width"])
    # Larger-than-init weights so attention patterns, GELU curvature and LayerNorm gains all matter.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n == "ln_f.weight":
                p.copy_(1 + 0.3 * torch.randn_like(p))
            else:
                p.mul_(15)
    text = b"In the beginning God created the heaven and the earth."
    idx = torch.tensor([list(text[0:T]), list(text[20:20 + T])], dtype=torch.long)
    tgt = torch.tensor([list(text[1:T + 1]), list(text[21:21 + T])], dtype=torch.long)
    logits = model.logits(idx)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.view(-1))
    loss.backward()

    def flat(t):
        return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]

    out = {
        "generator": "make_gpt_fixture.py", "torch": torch.__version__, "config": cfg, "batch": B,
        "inputs": idx.reshape(-1).tolist(), "targets": tgt.reshape(-1).tolist(),
        "params": {n: flat(p) for n, p in model.named_parameters()},
        "logits": flat(logits), "loss": float(f"{loss.item():.9g}"),
        "grads": {n: flat(p.grad) for n, p in model.named_parameters()},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt_tiny.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {path}: loss {loss.item():.6f}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
