"""The reference training step in PyTorch CPU (the peer to beat), same model and sizes as
bench/ref-step.ts: GPT, 2 layers, width 128, 4 heads, context 128, batch 16, vocab 256, LayerNorm,
learned positions, GELU (tanh), tied head, AdamW. Prints one JSON line. Threads from argv[1].

With argv[2] == "generate": the twin of bench/generate.ts instead, the same KV-cache sampling loop
(a cache of 128 slots per layer, one batched prefill of 32 prompts x 64 tokens, then one decode
step per new token, 64 new tokens sampled at temperature 1 with their log-probabilities), under
torch.no_grad; new tokens per second, prefill included."""
import json, math, os, sys, time

# OpenBLAS (which Debian's torch loads when libopenblas0 is installed) starts its own threads;
# pin every pool to the requested count before torch is imported.
_threads = sys.argv[1] if len(sys.argv) > 1 else "1"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    print(json.dumps({"skipped": f"PyTorch not importable ({e.__class__.__name__}); on Debian: apt-get install python3-torch libopenblas0-pthread (without OpenBLAS it falls back to a reference BLAS ~40x slower)"}))
    sys.exit(0)

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)
V, D, L, H, T, B = 256, 128, 2, 4, 128, 16


def attend(q, k, v):
    # torch >= 2.0 has a fused kernel; Debian's 1.13 build does not, so spell it out there.
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    t = q.shape[-2]
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.out = nn.Linear(D, D, bias=False)
        self.ln2 = nn.LayerNorm(D)
        self.up = nn.Linear(D, 4 * D, bias=False)
        self.down = nn.Linear(4 * D, D, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, H, d // H).permute(2, 0, 3, 1, 4)
        y = attend(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(y)
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.blocks = nn.ModuleList([Block() for _ in range(L)])
        self.lnf = nn.LayerNorm(D)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return self.lnf(x) @ self.wte.weight.T


def generate_bench():
    Bg, P, N = 32, 64, 64
    hd = D // H

    def attn_cached(blk, x, cache, t0):
        # x: [B, t, D] at positions t0..t0+t-1; writes keys/values into the cache, attends to 0..t0+t-1.
        b, t, d = x.shape
        q, k, v = blk.qkv(blk.ln1(x)).view(b, t, 3, H, hd).permute(2, 0, 3, 1, 4)
        cache[0][:, :, t0 : t0 + t] = k
        cache[1][:, :, t0 : t0 + t] = v
        keys, vals = cache[0][:, :, : t0 + t], cache[1][:, :, : t0 + t]
        s = (q @ keys.transpose(-2, -1)) / math.sqrt(hd)
        if t > 1:
            s = s.masked_fill(torch.ones(t, t0 + t, dtype=torch.bool).triu(t0 + 1), float("-inf"))
        y = (torch.softmax(s, dim=-1) @ vals).transpose(1, 2).reshape(b, t, d)
        x = x + blk.out(y)
        return x + blk.down(F.gelu(blk.up(blk.ln2(x)), approximate="tanh"))

    def forward_cached(idx, caches, t0):
        x = model.wte(idx) + model.wpe(torch.arange(t0, t0 + idx.shape[1]))
        for blk, c in zip(model.blocks, caches):
            x = attn_cached(blk, x, c, t0)
        return model.lnf(x[:, -1]) @ model.wte.weight.T

    def once():
        prompts = torch.randint(0, V, (Bg, P), generator=g)
        caches = [(torch.zeros(Bg, H, T, hd), torch.zeros(Bg, H, T, hd)) for _ in model.blocks]
        logits = forward_cached(prompts, caches, 0)
        out, lps = [], []
        for i in range(N):
            logp = torch.log_softmax(logits, dim=-1)
            nxt = torch.multinomial(logp.exp(), 1, generator=g)
            out.append(nxt)
            lps.append(logp.gather(1, nxt))
            if i + 1 < N:
                logits = forward_cached(nxt, caches, P + i)
        return torch.cat(out, 1)

    with torch.no_grad():
        once()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
    ms = sorted(times)[1] * 1000
    print(json.dumps({"threads": threads, "batch": Bg, "promptTokens": P, "newTokens": N, "msPerCall": ms, "tokensPerSec": Bg * N * 1000 / ms, "torch": torch.__version__}))


model = GPT()
g = torch.Generator().manual_seed(0)
if len(sys.argv) > 2 and sys.argv[2] == "generate":
    generate_bench()
    sys.exit(0)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)


def step():
    x = torch.randint(0, V, (B, T), generator=g)
    y = torch.randint(0, V, (B, T), generator=g)
    loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(3):
    step()
n = 15
t0 = time.perf_counter()
for _ in range(n):
    step()
ms = (time.perf_counter() - t0) * 1000 / n
print(json.dumps({"threads": threads, "msPerStep": ms, "tokensPerSec": B * T * 1000 / ms, "torch": torch.__version__}))
