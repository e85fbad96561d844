"""Forward + backward time of rnnbook's scratch LSTM layer against torch.nn.LSTM on this machine.

Usage: python benchmarks/bench_lstm.py [--repeats 15] [--device cpu] [--threads N]
Sizes: B = 32 sequences, T = 100 steps, 64 inputs, 256 hidden units, float32.
Besides the packaged layer it times a naive version (a Python loop calling LSTMCell.forward at
every step) to show what hoisting the input projection and the hand-written backward pass buy,
and torch.nn.LSTM a second time as a control: its ratio to the first (1.00x without noise) shows
how much of any ratio is noise from the machine. Timings alternate between the variants inside each repeat,
so that load from other processes on a shared machine hits them alike; the ratio is taken per
repeat, and the median is reported with the range of the middle half of the ratios.
On a CPU shared with other busy processes, compare --threads 1 as well: many small operations
(the scratch layers) suffer more from waiting for a second, descheduled thread than one fused
kernel (torch.nn.LSTM's oneDNN path) does.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from rnnbook.cells import LSTMCell, Recurrent

B, T, INPUT, HIDDEN = 32, 100, 64, 256


def naive_layer(cell: LSTMCell):
    """The textbook loop: one full cell step (two matmuls and the gates) per time step."""
    def run(x):
        state = None
        outputs = []
        for x_t in x:
            state = cell(x_t, state)
            outputs.append(state[0])
        return torch.stack(outputs), state
    return run


def time_once(fn, x, params, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out, _ = fn(x)
    grads = torch.autograd.grad(out.square().mean(), [x, *params])
    if device.type == "cuda":
        torch.cuda.synchronize()
    del grads
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--no-naive", action="store_true", help="skip the slow naive loop")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    reference = torch.nn.LSTM(INPUT, HIDDEN).to(device)
    scratch = Recurrent.from_torch(reference)
    x = torch.randn(T, B, INPUT, device=device, requires_grad=True)
    variants = {"torch.nn.LSTM": (reference, list(reference.parameters())),
                "rnnbook Recurrent(LSTMCell)": (scratch, list(scratch.parameters())),
                "torch.nn.LSTM again (control)": (reference, list(reference.parameters()))}
    if not args.no_naive:
        variants["naive Python loop"] = (naive_layer(scratch.cell), list(scratch.parameters()))
    for fn, params in variants.values():          # warm-up: allocations and caches
        for _ in range(3):
            time_once(fn, x, params, device)
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (fn, params) in variants.items():
            times[name].append(time_once(fn, x, params, device))
    base = times["torch.nn.LSTM"]
    print(f"forward+backward, B={B}, T={T}, input={INPUT}, hidden={HIDDEN}, float32, {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats")
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} CPUs")
    for name, ts in times.items():
        ratios = [t / b for t, b in zip(ts, base)]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        print(f"  {name:<30} median {1e3 * statistics.median(ts):7.1f} ms   "
              f"(min {1e3 * min(ts):6.1f})   ratio to torch.nn.LSTM, median of paired runs: "
              f"{statistics.median(ratios):.2f}x (middle half {q1:.2f}-{q3:.2f})")


if __name__ == "__main__":
    main()
