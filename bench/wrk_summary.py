#!/usr/bin/env python3
"""One summary line for a load scenario of bench/scale-load.sh and bench/soak.sh.

Reads the `wrk --latency` outputs of the scenario (one per replica, run at the same
time): requests/s are summed, p50/p99 are the worst of the wrk processes (wrk prints
percentiles, not samples, so they cannot be merged exactly), errors are summed (non-2xx
answers, socket errors). Adds the daemons' CPU time per request, their RSS before and
after, and the load average before and after.
"""
import argparse
import re
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def millis(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse(path: str) -> dict:
    with open(path) as f:
        text = f.read()
    out = {"rps": 0.0, "requests": 0, "p50": None, "p99": None, "non2xx": 0, "socket": 0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", text):
        out["requests"] = int(m.group(1))
    for pct in ("50", "99"):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M):
            out["p" + pct] = millis(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        out["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        out["socket"] = sum(int(g) for g in m.groups())
    return out


def mib(kib_list: str) -> str:
    return "+".join(f"{int(k) / 1024:.0f}" for k in kib_list.split()) or "?"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--cpu-ticks", type=int, required=True)
    ap.add_argument("--clk-tck", type=int, required=True)
    ap.add_argument("--rss-before", default="")
    ap.add_argument("--rss-after", default="")
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("outputs", nargs="+")
    args = ap.parse_args()
    runs = [parse(p) for p in args.outputs]
    requests = sum(r["requests"] for r in runs)
    rps = sum(r["rps"] for r in runs)
    p50 = max((r["p50"] for r in runs if r["p50"] is not None), default=float("nan"))
    p99 = max((r["p99"] for r in runs if r["p99"] is not None), default=float("nan"))
    non2xx = sum(r["non2xx"] for r in runs)
    socket = sum(r["socket"] for r in runs)
    cpu_ms = args.cpu_ticks / args.clk_tck * 1e3 / max(requests, 1)
    print(
        f"{args.name}: {rps:,.0f} requests/s ({requests} requests), p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"non-2xx {non2xx}, socket errors {socket}, daemon CPU {cpu_ms:.3f} ms/request, "
        f"RSS {mib(args.rss_before)} -> {mib(args.rss_after)} MiB, "
        f"load average {args.load_before} -> {args.load_after}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
