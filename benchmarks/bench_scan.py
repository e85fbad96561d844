"""Time rnnbook.scan.linear_scan against the step-by-step linear_loop for T = 256 ... 65,536.

Chapter 14's claim: the parallel scan computes all T states of h_t = a_t h_{t-1} + b_t in
O(log T) rounds of whole-tensor operations, and at T = 16,384 with 64 channels it is at least
5 times faster than the Python loop on a laptop CPU. Usage, from the repository root:

    .venv/bin/python benchmarks/bench_scan.py [--lengths 256 1024 ...] [--channels 64]
        [--repeats 3] [--device cpu|cuda] [--threads 1] [--out results.json]

It prints one line per T (best of --repeats runs) and, with --out, writes the rows as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from rnnbook.scan import time_against_loop

LENGTHS = [256, 1024, 4096, 16384, 65536]


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark with command-line arguments `argv`; return the rows it printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=LENGTHS)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available here; use --device cpu")
    torch.set_num_threads(args.threads)
    rows = time_against_loop(args.lengths, args.channels, args.repeats, args.device)
    print(f"{'T':>7} {'scan ms':>9} {'loop ms':>9} {'loop/scan':>9}  "
          f"({args.channels} channels, {args.device}, {args.threads} thread(s))")
    for r in rows:
        print(f"{r['T']:>7} {1e3 * r['scan_s']:>9.2f} {1e3 * r['loop_s']:>9.2f} "
              f"{r['speedup']:>9.1f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"channels": args.channels, "device": args.device,
                       "threads": args.threads, "rows": rows}, fh, indent=1)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
