#!/usr/bin/env python3
"""Write a `git fast-import` stream of a deterministic repository to stdout.

Usage: git_history_repo.py COMMITS | git fast-import --quiet

COMMITS commits on `main` (one a minute from a fixed date), over 400 source-like files
in 20 directories (2-6 KiB each). Each commit rewrites 1-3 files. Every 250th commit
adds a file holding an xAI-format key (random, not a real key) and the commit 40 later
deletes it; every 500th commit puts a key into an existing file, removed again later.
Every 1,000th commit gets a tag and, from 5,000 on, a side branch with its own commits
merged back. The same COMMITS always gives the same repository (same commit ids).
"""
import random
import sys

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WORDS = ("let value = compute(input, offset); return value + 1; // counter "
         "fn parse header body config request response handler error result").split()


def main() -> int:
    commits = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rnd = random.Random(42)
    out = sys.stdout.buffer
    files = {f"src/d{d:02}/f{n:02}.rs": None for d in range(20) for n in range(20)}
    names = sorted(files)

    def text(lines):
        return "\n".join(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))) for _ in range(lines)) + "\n"

    def key():
        return "xai-" + "".join(rnd.choice(ALPHABET) for _ in range(80))

    for name in names:
        files[name] = text(rnd.randint(40, 100))
    mark = 0
    secrets_live = {}  # path -> commit number at which to delete it
    planted = 0

    def emit(ref, message, changes, when, parents=()):
        nonlocal mark
        mark += 1
        data = message.encode()
        out.write(f"commit {ref}\nmark :{mark}\n".encode())
        out.write(f"author Bench <bench@example.com> {when} +0000\n".encode())
        out.write(f"committer Bench <bench@example.com> {when} +0000\n".encode())
        out.write(f"data {len(data)}\n".encode() + data + b"\n")
        for p in parents:
            out.write(f"merge :{p}\n".encode())
        for path, content in changes:
            if content is None:
                out.write(f"D {path}\n".encode())
            else:
                blob = content.encode()
                out.write(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
        return mark

    when = 1_600_000_000
    first = emit("refs/heads/main", "initial import", [(n, files[n]) for n in names], when)
    main_mark = first
    for i in range(1, commits):
        when += 60
        changes = []
        for name in rnd.sample(names, rnd.randint(1, 3)):
            lines = files[name].splitlines(keepends=True)
            lines[rnd.randrange(len(lines))] = text(1)
            files[name] = "".join(lines)
            changes.append((name, files[name]))
        if i % 250 == 0:
            path = f"config/secret_{i}.env"
            changes.append((path, f"XAI_API_KEY={key()}\n"))
            secrets_live[path] = i + 40
            planted += 1
        if i % 500 == 0:
            name = rnd.choice(names)
            files[name] += f'const KEY: &str = "{key()}";\n'
            changes.append((name, files[name]))
            planted += 1
        if i % 500 == 100:
            for name in names:
                if 'const KEY: &str = "xai-' in files[name]:
                    files[name] = "".join(l for l in files[name].splitlines(keepends=True) if "const KEY" not in l)
                    changes.append((name, files[name]))
        for path, until in list(secrets_live.items()):
            if until == i:
                changes.append((path, None))
                del secrets_live[path]
        main_mark = emit("refs/heads/main", f"change {i}", changes, when)
        if i % 1000 == 0:
            out.write(f"reset refs/tags/v{i // 1000}\nfrom :{main_mark}\n\n".encode())
        if i % 1000 == 0 and i >= 5000:
            side = f"refs/heads/side-{i}"
            out.write(f"reset {side}\nfrom :{main_mark}\n\n".encode())
            side_mark = main_mark
            for j in range(3):
                when += 60
                path = f"side/{i}/notes_{j}.md"
                side_mark = emit(side, f"side {i}.{j}", [(path, text(20))], when)
            when += 60
            out.write(b"")
            main_mark = emit("refs/heads/main", f"merge side {i}", [], when, parents=(side_mark,))
    print(f"{commits} commits, {planted} secrets planted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
