#!/usr/bin/env python3
"""Write a `git fast-import` stream of one commit holding a Linux-source-sized tree.

Usage: staged_repo.py FILES | git fast-import

The tree has FILES files (Linux 6.x: about 80,000) in a nested layout like the
kernel's: 20 top-level directories, 20 subdirectories each, 10 leaf directories under
those (4,000 leaf directories, 4,421 trees in all), FILES / 4,000 files per leaf. Every
file is distinct C-like text of 300-700 bytes, derived from its index only, so the
repository is identical on every machine and holds no secret.
"""
import sys

LEAVES = (20, 20, 10)


def body(i):
    lines = [f"/* file {i}: generated for revokd's staged-scan benchmark */", "#include <stddef.h>", ""]
    for k in range(6 + i % 8):
        lines.append(f"static int f{i}_{k}(int x) {{ return x * {k + 3} + {i % 997}; }}")
    return ("\n".join(lines) + "\n").encode()


def main():
    files = int(sys.argv[1])
    leaves = LEAVES[0] * LEAVES[1] * LEAVES[2]
    out = sys.stdout.buffer
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer Bench <bench@example.com> 1700000000 +0000\n")
    msg = b"a Linux-sized tree\n"
    out.write(b"data %d\n%s" % (len(msg), msg))
    for i in range(files):
        leaf = i % leaves
        a, rest = divmod(leaf, LEAVES[1] * LEAVES[2])
        b, c = divmod(rest, LEAVES[2])
        path = f"dir{a:02}/sub{b:02}/leaf{c}/file{i // leaves:03}.c"
        data = body(i)
        out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    out.write(b"\n")


if __name__ == "__main__":
    main()
