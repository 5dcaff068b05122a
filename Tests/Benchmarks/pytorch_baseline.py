#!/usr/bin/env python3
"""PyTorch baseline for `largevae bench`: training samples/s of the paper's models on CPU.

The four models (VAE and two-level HVAE, each with the standard or the VampPrior prior) are
built with the layer sizes of the Swift engine and of the VampPrior authors' code: 784-pixel
binary data, 300-unit GatedDense layers, 40-dimensional latents, K = 500 pseudo-inputs, a
Bernoulli likelihood from logits. One training step is forward + backward + Adam (lr 5e-4)
on a fixed random batch of 100 (pixels on with p = 0.3), in float32.

    python3 Tests/Benchmarks/pytorch_baseline.py [--threads 1,2] [--models ...]
        [--runs 5] [--steps 10] [--json] [--ddp]

Each measurement warms up 3 steps, then times `runs` runs of `steps` steps and reports the
median (the machine may be shared, so one slow run must not decide the number).
`--ddp` instead runs DistributedDataParallel on 2 local processes (gloo, 1 thread each),
each taking half of the batch of 100, for the VAE models.
"""
import argparse
import json
import math
import os
import socket
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

D, H, M, K = 784, 300, 40, 500   # pixels, hidden units, latent size, pseudo-inputs
LOG_2PI = math.log(2 * math.pi)
BATCH, LR, BETA, WARMUP = 100, 5e-4, 1.0, 3


# ----------------------------------------------------------------------------- layers

class GatedDense(nn.Module):
    """h = (W x + b) * sigmoid(V x + c), with two separate linear maps as in the authors' code."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.h = nn.Linear(n_in, n_out)
        self.g = nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.h(x) * torch.sigmoid(self.g(x))


class GaussianHeads(nn.Module):
    """Mean and log-variance heads; the log-variance is clamped by Hardtanh(-6, 2)."""

    def __init__(self, n_in=H, n_out=M):
        super().__init__()
        self.mean = nn.Linear(n_in, n_out)
        self.logvar = nn.Linear(n_in, n_out)

    def forward(self, h):
        return self.mean(h), F.hardtanh(self.logvar(h), -6.0, 2.0)


def log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)), summed over the last (latent) dimension."""
    return (-0.5 * (LOG_2PI + logvar + (z - mean) ** 2 * torch.exp(-logvar))).sum(-1)


def log_standard_normal(z):
    return (-0.5 * (LOG_2PI + z ** 2)).sum(-1)


def reparameterize(mean, logvar):
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def bernoulli_nll(x, logits):
    """-log p(x | logits) per row: -(x * l - softplus(l)) summed over pixels."""
    return -(x * logits - F.softplus(logits)).sum(1)


# ----------------------------------------------------------------------------- models

class LatentModel(nn.Module):
    """Shared prior handling. `prior_encoder(u)` gives (mean, logvar) of the prior's latent."""

    def __init__(self, prior):
        super().__init__()
        self.prior = prior
        if prior == "vampprior":
            # Pseudo-inputs as a plain [K, D] parameter, N(0.05, 0.01), squashed into [0, 1].
            self.pseudo = nn.Parameter(torch.randn(K, D) * 0.01 + 0.05)
        elif prior != "standard":
            raise ValueError(f"unknown prior {prior!r}")

    def log_prior(self, z):
        if self.prior == "standard":
            return log_standard_normal(z)
        u = F.hardtanh(self.pseudo, 0.0, 1.0)
        mu, logvar = self.prior_encoder(u)               # [K, M] each, recomputed every step
        # Broadcast [B, 1, M] against [1, K, M] -> [B, K] component log-densities, as the
        # authors do, then average the mixture in log space.
        a = log_normal(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))
        return torch.logsumexp(a, dim=1) - math.log(K)


class VAE(LatentModel):
    def __init__(self, prior):
        super().__init__(prior)
        self.q_layers = nn.Sequential(GatedDense(D, H), GatedDense(H, H))
        self.q_heads = GaussianHeads()
        self.p_layers = nn.Sequential(GatedDense(M, H), GatedDense(H, H))
        self.p_logits = nn.Linear(H, D)

    def prior_encoder(self, u):
        return self.q_heads(self.q_layers(u))

    def forward(self, x):
        mean, logvar = self.prior_encoder(x)
        z = reparameterize(mean, logvar)
        rec = bernoulli_nll(x, self.p_logits(self.p_layers(z)))
        kl = log_normal(z, mean, logvar) - self.log_prior(z)
        return (rec + BETA * kl).mean()


class HVAE(LatentModel):
    """Two stochastic levels: q(z2|x) q(z1|x,z2), p(z1|z2) p(x|z1,z2), prior on z2."""

    def __init__(self, prior):
        super().__init__(prior)
        self.q_z2_layers = nn.Sequential(GatedDense(D, H), GatedDense(H, H))
        self.q_z2_heads = GaussianHeads()
        self.q_z1_x = GatedDense(D, H)
        self.q_z1_z2 = GatedDense(M, H)
        self.q_z1_joint = GatedDense(2 * H, H)
        self.q_z1_heads = GaussianHeads()
        self.p_z1_layers = nn.Sequential(GatedDense(M, H), GatedDense(H, H))
        self.p_z1_heads = GaussianHeads()
        self.p_x_z1 = GatedDense(M, H)
        self.p_x_z2 = GatedDense(M, H)
        self.p_x_joint = GatedDense(2 * H, H)
        self.p_logits = nn.Linear(H, D)

    def prior_encoder(self, u):
        return self.q_z2_heads(self.q_z2_layers(u))

    def forward(self, x):
        z2_mean, z2_logvar = self.prior_encoder(x)
        z2 = reparameterize(z2_mean, z2_logvar)
        h = self.q_z1_joint(torch.cat([self.q_z1_x(x), self.q_z1_z2(z2)], 1))
        z1_mean, z1_logvar = self.q_z1_heads(h)
        z1 = reparameterize(z1_mean, z1_logvar)
        p_z1_mean, p_z1_logvar = self.p_z1_heads(self.p_z1_layers(z2))
        h = self.p_x_joint(torch.cat([self.p_x_z1(z1), self.p_x_z2(z2)], 1))
        rec = bernoulli_nll(x, self.p_logits(h))
        kl = (log_normal(z1, z1_mean, z1_logvar) + log_normal(z2, z2_mean, z2_logvar)
              - log_normal(z1, p_z1_mean, p_z1_logvar) - self.log_prior(z2))
        return (rec + BETA * kl).mean()


def build(spec):
    arch, prior = spec.split("/")
    return {"vae": VAE, "hvae": HVAE}[arch](prior)


def make_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(BATCH, D, generator=g) < 0.3).float()


# ----------------------------------------------------------------------------- timing

def time_steps(model, x, runs, steps, sync=None):
    """Median seconds per training step over `runs` runs of `steps` steps, after a warm-up.
    `sync(seconds)` (DDP) aligns the ranks and turns a run's time into the slowest rank's."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        model(x).backward()
        opt.step()

    for _ in range(WARMUP):
        step()
    times = []
    for _ in range(runs):
        if sync:
            sync(0.0)                                     # start every rank together
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - t0
        times.append((sync(elapsed) if sync else elapsed) / steps)
    return statistics.median(times)


def report(args, spec, threads, seconds, impl="pytorch"):
    arch, prior = spec.split("/")
    sps = BATCH / seconds
    if args.json:
        print(json.dumps({"impl": impl, "model": arch, "prior": prior, "threads": threads,
                          "samples_per_second": round(sps, 1)}), flush=True)
    else:
        print(f"{spec:<16} {threads:>7}  {sps:>9.1f}  {seconds * 1e3:>8.2f}", flush=True)


def header(args, title):
    if args.json:
        return
    print(f"torch {torch.__version__}  mkldnn={torch.backends.mkldnn.is_available()}  "
          f"mkl={torch.backends.mkl.is_available()}  cores={os.cpu_count()}")
    print(f"{title}: batch {BATCH}, median of {args.runs} runs x {args.steps} steps\n")
    print("model            threads  samples/s   step ms")


def run_local(args):
    header(args, "single process")
    x = make_data()
    for spec in args.models:
        for t in args.threads:
            torch.set_num_threads(t)
            torch.manual_seed(0)
            report(args, spec, t, time_steps(build(spec), x, args.runs, args.steps))


# ----------------------------------------------------------------------------- DDP

def ddp_worker(rank, world, port, args):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)

    def slowest(seconds):
        t = torch.tensor([seconds], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()

    share = BATCH // world
    x = make_data()[rank * share:(rank + 1) * share]      # each rank its half of the batch
    for spec in args.ddp_models:
        torch.manual_seed(0)                              # DDP also broadcasts rank 0's weights
        model = DDP(build(spec))
        seconds = time_steps(model, x, args.runs, args.steps, sync=slowest)
        if rank == 0:                                     # global step: BATCH samples
            report(args, spec, world, seconds, impl="pytorch-ddp")
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ddp(args):
    import torch.multiprocessing as mp
    header(args, "DDP, gloo, 2 processes x 1 thread, 50 samples each")
    mp.spawn(ddp_worker, args=(2, free_port(), args), nprocs=2, join=True)


# ----------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--models", default="vae/standard,vae/vampprior,hvae/standard,hvae/vampprior")
    p.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    p.add_argument("--steps", type=int, default=10, help="training steps per timed run")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--ddp", action="store_true",
                   help="DistributedDataParallel on 2 processes (vae models only)")
    args = p.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    args.models = args.models.split(",")
    for spec in args.models:
        arch, _, prior = spec.partition("/")
        if arch not in ("vae", "hvae") or prior not in ("standard", "vampprior"):
            p.error(f"{spec!r} is not a model: use vae|hvae / standard|vampprior")
    if args.runs < 1 or args.steps < 1:
        p.error("--runs and --steps must be at least 1")
    if args.ddp:
        args.ddp_models = [s for s in args.models if s.startswith("vae/")]
        run_ddp(args)
    else:
        run_local(args)


if __name__ == "__main__":
    main()
