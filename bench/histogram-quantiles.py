"""Reads Prometheus text on stdin; prints count, p50 and p99 (upper bucket bounds) of
the histogram named in argv[1]."""
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
    for le, n in buckets:
        if count and n >= q * count:
            return le
    return float("nan")
print(f"disabled keys: {int(count)}  p50 <= {quantile(0.5) * 1000:g} ms  p99 <= {quantile(0.99) * 1000:g} ms")
