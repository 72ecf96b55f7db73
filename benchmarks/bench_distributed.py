"""Data parallelism on MPI: measured steps/s and all-reduce time, and a scaling model.

    python benchmarks/bench_distributed.py                        # 1 rank, 2 threads
    OMP_NUM_THREADS=1 python benchmarks/bench_distributed.py --threads 1
    OMP_NUM_THREADS=1 mpirun -n 2 python benchmarks/bench_distributed.py --threads 1

Measured (B1 and B3 of bench_models.py, global batch 128 and 32 split over the ranks, Adam,
gradients averaged by DistributedDataParallel): steps/s, and the time one all-reduce of the
step's whole gradient takes (its bucket count and bytes).

Modelled, for N machines (ring all-reduce, as MPI uses for large messages): a step costs

    t(N) = t_compute(1) / N + 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency

so data parallelism pays while the communication term is smaller than the compute it saves,
t_compute(1) (1 - 1/N). With --model-table (one process) the script prints, for B1-B4's gradient sizes at 10 and
100 Gbit/s (latency 5 us), the communication time of a step for large N (2 bytes /
bandwidth: it does not shrink with N, while the compute does), and, given a one-process step
time (the measured ones, or --step-ms MODEL MS), the N that minimizes t(N) and the speed-up
there.
"""
import argparse
import time

import numpy as np


def build(model_id, batch):
    """(module, loss(x) closure, x) of bench_models.py's B1-B4, batch rows."""
    import tinygen as tg
    import tinygen.nn as nn
    import tinygen.nn.functional as F
    rng = np.random.default_rng(0)
    if model_id == "B1":
        net = nn.ModuleDict({"enc": nn.Linear(784, 400), "mu": nn.Linear(400, 20),
                             "logvar": nn.Linear(400, 20), "dec1": nn.Linear(20, 400),
                             "dec2": nn.Linear(400, 784)})
        x = tg.tensor((rng.random((batch, 784)) < 0.3).astype(np.float32))

        def loss(x):
            h = F.relu(net["enc"](x))
            mu, logvar = net["mu"](h), net["logvar"](h)
            z = mu + (logvar * 0.5).exp() * tg.randn(x.shape[0], 20)
            logits = net["dec2"](F.relu(net["dec1"](z)))
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            return (rec - 0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()) / x.shape[0]
        return net, loss, x
    if model_id == "B3":
        layers = [nn.MaskedConv2d(1, 64, 7, mask_type="A", padding=3)]
        for _ in range(5):
            layers += [nn.MaskedConv2d(64, 64, 3, mask_type="B", padding=1), nn.ReLU()]
        layers += [nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 1, 1)]
        net = nn.Sequential(*layers)
        x = tg.tensor((rng.random((batch, 1, 28, 28)) < 0.3).astype(np.float32))
        return net, (lambda x: F.binary_cross_entropy_with_logits(net(x), x)), x
    if model_id == "B2":
        net = nn.ModuleDict({"G": nn.Sequential(
            nn.Linear(64, 128 * 49), nn.BatchNorm1d(128 * 49), nn.ReLU(),
            nn.Unflatten(1, (128, 7, 7)), nn.ConvTranspose2d(128, 64, 4, 2, 1),
            nn.BatchNorm2d(64), nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1)),
            "D": nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                               nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128),
                               nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 49, 1))})
        return net, None, None
    if model_id == "B4":
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 32),
            nn.Linear(32, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))
        return net, None, None
    raise ValueError(model_id)


BATCH = {"B1": 128, "B2": 64, "B3": 32, "B4": 128}


def gradient_bytes(model_id):
    net, _, _ = build(model_id, 1)
    return sum(p.array.nbytes for p in net.parameters())


def measure(model_id, steps, warmup):
    import tinygen as tg
    import tinygen.distributed as dist
    from tinygen.nn.parallel import DistributedDataParallel as DDP
    rank, n = dist.get_rank(), dist.get_world_size()
    tg.manual_seed(0)
    net, loss, x = build(model_id, BATCH[model_id])
    x = x[rank * (len(x) // n):(rank + 1) * (len(x) // n)]
    ddp = DDP(net)
    opt = tg.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss(x).backward()
        opt.step()
    for _ in range(warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dist.barrier()
    t_step = (time.perf_counter() - t0) / steps
    flat = tg.zeros(sum(p.array.size for p in net.parameters()))
    for _ in range(3):
        dist.all_reduce(flat)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        dist.all_reduce(flat, op=dist.ReduceOp.AVG, async_op=True).wait()
    t_reduce = (time.perf_counter() - t0) / steps
    return t_step, t_reduce, len(ddp._buckets), flat.array.nbytes


def step_time_model(t1, nbytes, n, gbit, latency=5e-6):
    return t1 / n + 2 * (n - 1) / n * nbytes / (gbit * 1e9 / 8) + 2 * (n - 1) * latency


def model_table(step_ms):
    """For B1-B4: the all-reduce time per step for large N (2 bytes / bandwidth) and, where a
    one-process step time is known, the N that minimizes t(N) and the speed-up there."""
    print("model  grad MB  Gbit/s  comm ms (N large)  1-proc step ms  best N  speed-up")
    for model_id in ("B1", "B2", "B3", "B4"):
        nbytes = gradient_bytes(model_id)
        for gbit in (10, 100):
            comm = 2 * nbytes / (gbit * 1e9 / 8) * 1e3
            line = f"{model_id:5s}  {nbytes / 2**20:7.2f}  {gbit:6d}  {comm:17.2f}"
            if model_id in step_ms:
                t1 = step_ms[model_id] / 1e3
                # at most one sample per rank: N <= the global batch
                times = {n: step_time_model(t1, nbytes, n, gbit)
                         for n in range(1, BATCH[model_id] + 1)}
                best = min(times, key=times.get)
                line += f"  {t1 * 1e3:14.1f}  {best:6d}  {t1 / times[best]:8.1f}"
            print(line)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["B1", "B3"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--model-table", action="store_true")
    p.add_argument("--step-ms", nargs=2, action="append", default=[], metavar=("MODEL", "MS"),
                   help="a one-process step time for the model table (default: the measured)")
    args = p.parse_args()
    import tinygen as tg
    import tinygen.distributed as dist
    if args.threads:
        tg.set_num_threads(args.threads)
    dist.init_process_group("mpi")
    rank, n = dist.get_rank(), dist.get_world_size()
    measured = {}
    for model_id in args.models:
        t_step, t_reduce, buckets, nbytes = measure(model_id, args.steps, args.warmup)
        measured[model_id] = t_step * 1e3
        if rank == 0:
            print(f"{model_id}: {n} rank(s) x {tg.get_num_threads()} thread(s), global batch "
                  f"{BATCH[model_id]}: {1 / t_step:.1f} steps/s; all-reduce of "
                  f"{nbytes / 2**20:.2f} MB in {buckets} bucket(s): {t_reduce * 1e3:.2f} ms "
                  f"({100 * t_reduce / t_step:.0f}% of a step)")
    if args.model_table and rank == 0 and n == 1:
        model_table(measured | {m: float(ms) for m, ms in args.step_ms})

if __name__ == "__main__":
    main()
