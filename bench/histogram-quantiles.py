"""Reads Prometheus text on stdin; prints the count of the histogram named in argv[1],
its p50 and p99 as bucket upper bounds (the quantile is at most that), and the same
quantiles interpolated linearly inside their bucket (as PromQL's histogram_quantile)."""
import sys

name = sys.argv[1]
buckets = []
count = 0
for line in sys.stdin:
    if line.startswith(name + "_bucket{"):
        le = line.split('le="', 1)[1].split('"', 1)[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    elif line.startswith(name + "_count"):
        count = float(line.rsplit(" ", 1)[1])
buckets.sort()


def quantile(q):
    """(upper bound of the bucket holding quantile q, linear estimate inside it)."""
    lower, below = 0.0, 0.0
    for le, n in buckets:
        if count and n >= q * count:
            if le == float("inf") or n == below:
                return le, le if le != float("inf") else lower
            return le, lower + (le - lower) * (q * count - below) / (n - below)
        lower, below = le, n
    return float("nan"), float("nan")


(p50, p50_est), (p99, p99_est) = quantile(0.5), quantile(0.99)
print(f"disabled keys: {int(count)}  p50 <= {p50 * 1000:g} ms (~{p50_est * 1000:.1f})  "
      f"p99 <= {p99 * 1000:g} ms (~{p99_est * 1000:.1f})")
