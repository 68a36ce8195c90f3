#!/usr/bin/env python3
"""Compute the benchmark figures for bench/scan.sh and print them (plain text).

Reads hyperfine's --export-json file (command names `rg`, `revokd`, `rg --threads 1`,
`revokd --threads 1`), revokd's JSON report of the corpus, and planted/EXPECTED.tsv.
Exit status 0; with --strict, 1 when a target is missed.
"""
import argparse
import collections
import json
import os
import re
import sys

RATIO_MAX = 1.0  # revokd / rg mean wall time, multi-threaded
THROUGHPUT_MIN = 1.0  # GB/s (1e9 bytes), revokd single-threaded
LIBRARY_COST_MAX = 1.2  # engine time, all rules / starter rules (issue 3)
RSS_MAX_KIB = 256 * 1024  # 256 MiB peak RSS


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hyperfine", required=True)
    ap.add_argument("--report", help="revokd JSON report of the corpus")
    ap.add_argument("--expected", help="planted/EXPECTED.tsv")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--corpus-bytes", type=int, required=True, help="sum of regular file sizes")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--rss-kib", type=int, help="revokd peak RSS, --threads N")
    ap.add_argument("--rss1-kib", type=int, help="revokd peak RSS, --threads 1")
    ap.add_argument("--rg-rss-kib", type=int)
    ap.add_argument("--engine-all", help="scan_engine output, every rule")
    ap.add_argument("--engine-starter", help="scan_engine output, the starter rules")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()

    with open(a.hyperfine) as f:
        runs = {r["command"]: r for r in json.load(f)["results"]}
    gb = a.corpus_bytes / 1e9
    missed = []

    def fmt(name):
        r = runs.get(name)
        if r is None:
            return None
        return (f"  {name:<20} mean {r['mean']:7.3f} s  ± {r['stddev'] or 0:.3f}  "
                f"min {r['min']:.3f}  max {r['max']:.3f}  cpu {r['user'] + r['system']:6.3f} s  "
                f"({len(r['times'])} runs)  {gb / r['mean']:.2f} GB/s")

    print(f"Wall time (hyperfine, warm cache; multi-threaded = --threads {a.threads}; cpu = mean user+sys):")
    for name in ("rg", "revokd", "rg --threads 1", "revokd --threads 1", "rg --threads 1 (one literal)"):
        line = fmt(name)
        if line:
            print(line)

    print("\nTargets:")
    rg, rv, rv1 = runs.get("rg"), runs.get("revokd"), runs.get("revokd --threads 1")
    if rg and rv:
        ratio = rv["mean"] / rg["mean"]
        ok = ratio <= RATIO_MAX
        missed += [] if ok else ["ratio"]
        print(f"  wall-time ratio revokd/rg ({a.threads} threads): {ratio:.3f}  "
              f"(target <= {RATIO_MAX})  {'PASS' if ok else 'FAIL'}")
    if rv1:
        tput = gb / rv1["mean"]
        ok = tput >= THROUGHPUT_MIN
        missed += [] if ok else ["throughput"]
        print(f"  single-thread throughput: {tput:.3f} GB/s = {a.corpus_bytes} B / {rv1['mean']:.3f} s  "
              f"(target >= {THROUGHPUT_MIN} GB/s)  {'PASS' if ok else 'FAIL'}")
        floor = runs.get("rg --threads 1 (one literal)")
        if floor:
            print(f"    (reading the files alone, rg with one literal: {gb / floor['mean']:.3f} GB/s; "
                  f"revokd takes {rv1['mean'] / floor['mean']:.2f}x its time)")
    engine_all, engine_starter = read_engine(a.engine_all), read_engine(a.engine_starter)
    if engine_all:
        ok = engine_all["gbps"] >= THROUGHPUT_MIN
        missed += [] if ok else ["engine throughput"]
        print(f"  engine alone, files in memory, 1 thread, all {engine_all['rules']} rules: "
              f"{engine_all['gbps']:.2f} GB/s ({engine_all['seconds']:.3f} s, best of 5)  "
              f"(target >= {THROUGHPUT_MIN} GB/s)  {'PASS' if ok else 'FAIL'}")
    if engine_all and engine_starter:
        cost = engine_all["seconds"] / engine_starter["seconds"]
        ok = cost <= LIBRARY_COST_MAX
        missed += [] if ok else ["library cost"]
        print(f"  engine time, all {engine_all['rules']} rules / {engine_starter['rules']} starter rules: {cost:.2f} "
              f"({engine_all['seconds']:.3f} s / {engine_starter['seconds']:.3f} s)  "
              f"(target <= {LIBRARY_COST_MAX})  {'PASS' if ok else 'FAIL'}")
    if a.rss_kib is not None:
        ok = a.rss_kib <= RSS_MAX_KIB
        missed += [] if ok else ["rss"]
        extra = f"; --threads 1: {a.rss1_kib / 1024:.1f} MiB" if a.rss1_kib is not None else ""
        print(f"  peak RSS revokd --threads {a.threads}: {a.rss_kib / 1024:.1f} MiB{extra}  "
              f"(target <= {RSS_MAX_KIB // 1024} MiB)  {'PASS' if ok else 'FAIL'}")
    if a.rg_rss_kib is not None:
        print(f"  (peak RSS rg --threads {a.threads}: {a.rg_rss_kib / 1024:.1f} MiB)")

    if a.report:
        with open(a.report) as f:
            report = json.load(f)
        findings = report["findings"]
        stats = report.get("stats", {})
        print(f"\nrevokd findings on the corpus: {len(findings)}")
        print("  stats: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
        by_rule = collections.Counter(f["rule"] for f in findings)
        planted_dir = os.path.join(os.path.abspath(a.corpus), "planted") + os.sep
        in_planted = collections.Counter(
            f["rule"] for f in findings if os.path.abspath(f["path"]).startswith(planted_dir))
        print(f"  {'rule':<36} {'all':>6} {'planted/':>9} {'kernel':>7}")
        for rule, n in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {rule:<36} {n:>6} {in_planted[rule]:>9} {n - in_planted[rule]:>7}")
        if a.expected and os.path.exists(a.expected):
            expected = {}
            with open(a.expected) as f:
                for line in f:
                    if line.strip() and not line.startswith("#"):
                        rule, n = line.split("\t")
                        expected[rule] = int(n)
            print("\nPlanted secrets found (planted/ findings / planted):")
            for rule, n in expected.items():
                got = in_planted[rule]
                print(f"  {rule:<36} {got:>3} / {n:<3} {'ok' if got == n else 'MISMATCH'}")
            extra = sum(in_planted.values()) - sum(in_planted[r] for r in expected)
            if extra:
                print(f"  other rules firing in planted/: {extra}")

    if missed:
        print(f"\nTargets missed: {', '.join(missed)}")
    elif rg and rv and rv1 and a.rss_kib is not None:
        print("\nAll targets met.")
    return 1 if (a.strict and missed) else 0


def read_engine(path):
    """The numbers of one `scan_engine` output line, or None."""
    if not path:
        return None
    with open(path) as f:
        m = re.search(r"rules (\d+) .*: ([\d.]+) s = ([\d.]+) GB/s", f.read())
    return {"rules": int(m[1]), "seconds": float(m[2]), "gbps": float(m[3])} if m else None


if __name__ == "__main__":
    sys.exit(main())
