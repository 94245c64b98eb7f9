"""Benchmark: step time of course_lib.gan.Trainer vs a minimal hand-written DCGAN loop.

Same networks (nets.dcgan), same batch, same losses, same machine, alternating repeats so
both see the same background load; reports medians and the ratio engine / hand-written.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_gan_engine.py            # CPU, 1 thread
    .venv/bin/python scripts/bench_gan_engine.py --threads 2 --bf16           # + the engine under CPU bf16 autocast
    .venv/bin/python scripts/bench_gan_engine.py --device cuda --width 64 --image-size 64 --batch-size 128

``--bf16`` adds the engine with ``amp=True`` (bf16 autocast; on the CPU what ``COURSE_CPU_BF16`` switches)
and reports fp32 / bf16: the measurement behind ``env.cpu_bf16``'s default.

Not a timed test: run it by hand; the lead copies the ratio into the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (fixed for both loops)")
    p.add_argument("--image-size", type=int, default=28, choices=(28, 32, 64))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=40, help="steps per timed repeat")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--log-every", type=int, default=50, help="the engine's diagnostics interval")
    p.add_argument("--bf16", action="store_true", help="also time the engine under bf16 autocast (amp=True)")
    a = p.parse_args()
    os.environ.setdefault("COURSE_PROGRESS", "0")
    torch.set_num_threads(a.threads)

    from course_lib import data, gan, losses
    from course_lib.nets import dcgan

    dev = torch.device(a.device)
    mnist = data.load("mnist", image_size=None if a.image_size == 28 else a.image_size)
    x_all = mnist.pm1().to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def nets(seed: int):
        torch.manual_seed(seed)
        return (dcgan.Generator(a.latent_dim, 1, a.image_size, a.width).to(dev),
                dcgan.Discriminator(1, a.image_size, a.width).to(dev))

    # --- the engine ---------------------------------------------------------------------------
    G1, D1 = nets(0)
    trainer = gan.Trainer(G1, D1, gan.variant("ns"), x_all, a.latent_dim, a.batch_size, device=dev,
                          log_every=a.log_every, amp=False)

    def run_engine(n: int) -> None:
        trainer.fit(trainer.step + n)

    G3, D3 = nets(0)
    trainer_bf16 = gan.Trainer(G3, D3, gan.variant("ns"), x_all, a.latent_dim, a.batch_size, device=dev,
                               log_every=a.log_every, amp=True)

    def run_engine_bf16(n: int) -> None:
        trainer_bf16.fit(trainer_bf16.step + n)

    # --- the minimal hand-written loop (pytorch/examples/dcgan) -------------------------------
    G2, D2 = nets(0)
    opt_g = torch.optim.Adam(G2.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D2.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(0)

    def run_hand(n: int, freeze_d: bool = False) -> None:
        for _ in range(n):
            x_real = x_all[torch.randint(len(x_all), (a.batch_size,), generator=rng).to(dev)]
            # (1) Update D: maximize log D(x) + log(1 - D(G(z)))
            z = torch.randn(a.batch_size, a.latent_dim, device=dev)
            x_fake = G2(z)
            loss_d = losses.minimax_d_loss(D2(x_real), D2(x_fake.detach()))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # (2) Update G: maximize log D(G(z))
            if freeze_d:
                D2.requires_grad_(False)
            loss_g = losses.nonsaturating_g_loss(D2(x_fake))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            if freeze_d:
                D2.requires_grad_(True)

    loops = {"engine": run_engine, "hand-written": run_hand,
             "hand-written + frozen D in G step": lambda n: run_hand(n, True)}
    if a.bf16:
        loops["engine, bf16 autocast"] = run_engine_bf16
    for fn in loops.values():
        fn(a.warmup)
    sync()
    times: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(a.repeats):
        for k, fn in loops.items():                 # alternate so background load hits all alike
            sync()
            t0 = time.perf_counter()
            fn(a.steps)
            sync()
            times[k].append((time.perf_counter() - t0) / a.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"device={dev} threads={torch.get_num_threads()} image={a.image_size} width={a.width} "
          f"batch={a.batch_size} steps/repeat={a.steps} repeats={a.repeats} (medians)")
    for k, v in med.items():
        print(f"  {k:34s} {1000 * v:8.2f} ms/step")
    print(f"ratio engine / hand-written                  = {med['engine'] / med['hand-written']:.3f}")
    print(f"ratio engine / hand-written + frozen D       = {med['engine'] / med['hand-written + frozen D in G step']:.3f}")
    if a.bf16:
        print(f"speed-up of bf16 autocast (fp32 / bf16)      = {med['engine'] / med['engine, bf16 autocast']:.3f}")


if __name__ == "__main__":
    main()
