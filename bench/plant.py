#!/usr/bin/env python3
"""Plant a fixed, seeded set of fake secrets into DIR (normally CORPUS/planted).

Usage: plant.py DIR

Writes 50 files, each holding exactly one fake secret inside neutral filler text, 10 of
each format below, and DIR/EXPECTED.tsv (`rule_id<TAB>count`, no secrets). The same seed
gives byte-identical files on every machine (Python's `random.Random(int)` and
`choice`/`randrange` are stable across Python 3 versions).

  xai_api_key              xai- + 80 base62
  github_token             ghp_ + 30 base62 + 6-char CRC32 checksum (base62, 0-padded)
  github_fine_grained_pat  github_pat_ + 22 base62 + _ + 59 base62
  aws_access_key_id        AKIA + 16 of [A-Z2-7]
  private_key              RSA PEM block, 20 lines of 64 base64 characters
"""
import math
import os
import random
import sys
import zlib

SEED = 612025
FILES = 50
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Filler vocabulary: lowercase words that contain no rule prefix or keyword.
WORDS = (
    "buffer queue device driver socket inode page block cache lock mutex thread "
    "packet frame table entry index count offset length flags state mode timer "
    "event channel stream module probe reset init exit read write open close map "
    "unmap alloc free copy move sync flush retry limit range value field layout"
).split()


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def entropy(s: str) -> float:
    counts = {c: s.count(c) for c in set(s)}
    return -sum(k / len(s) * math.log2(k / len(s)) for k in counts.values())


def base62_fixed6(value: int) -> str:
    out = ""
    for _ in range(6):
        out = BASE62[value % 62] + out
        value //= 62
    return out


def xai(rng):
    return "xai-" + rand(rng, BASE62, 80)


def ghp(rng):
    body = rand(rng, BASE62, 30)
    return "ghp_" + body + base62_fixed6(zlib.crc32(body.encode()) & 0xFFFFFFFF)


def github_pat(rng):
    return "github_pat_" + rand(rng, BASE62, 22) + "_" + rand(rng, BASE62, 59)


def aws(rng):
    # Well clear of the rule's min_entropy (3.0) and stopword (EXAMPLE); bounded retries.
    for _ in range(100):
        key = "AKIA" + rand(rng, BASE32, 16)
        if entropy(key) >= 3.5 and "EXAMPLE" not in key:
            return key
    raise SystemExit("plant.py: no AWS key id passed the entropy check in 100 tries")


def pem(rng):
    body = "\n".join(rand(rng, BASE64, 64) for _ in range(20))
    return "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----"


# (rule id, generator, file name stem, extension, how the secret sits in the file)
FORMATS = [
    ("xai_api_key", xai, "llm", "env", 'XAI_KEY="{}"'),
    ("github_token", ghp, "ci", "yml", "    gh_value: {}"),
    ("github_fine_grained_pat", github_pat, "deploy", "sh", "export GH_PAT='{}'"),
    ("aws_access_key_id", aws, "cloud", "ini", "aws_access_key_id = {}"),
    ("private_key", pem, "host", "pem", "{}"),
]


def filler(rng: random.Random, n: int) -> list[str]:
    return [f"# {' '.join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12)))}" for _ in range(n)]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(SEED)
    counts = {rule: 0 for rule, *_ in FORMATS}
    for i in range(FILES):
        rule, gen, stem, ext, template = FORMATS[i % len(FORMATS)]
        secret = gen(rng)
        lines = filler(rng, rng.randrange(5, 60)) + [template.format(secret)] + filler(rng, rng.randrange(5, 60))
        with open(os.path.join(out_dir, f"{i:02d}-{stem}.{ext}"), "w", encoding="ascii", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        counts[rule] += 1
    with open(os.path.join(out_dir, "EXPECTED.tsv"), "w", encoding="ascii", newline="\n") as f:
        f.write(f"# planted by bench/plant.py, seed {SEED}: rule id, number of planted secrets\n")
        for rule, n in counts.items():
            f.write(f"{rule}\t{n}\n")
    print(f"planted {sum(counts.values())} secrets in {FILES} files under {out_dir}: "
          + ", ".join(f"{r} {n}" for r, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
