#!/usr/bin/env python3
"""Runs Nosey Parker's default rule set over a directory with ripgrep, without Nosey Parker.

Usage: noseyparker_rg.py BUILTIN_DIR DIR OUT_JSONL

BUILTIN_DIR is Nosey Parker's `crates/noseyparker/data/default/builtin` (with `rules/` and
`rulesets/default.yml`). The rules of the `default` ruleset are read from its
`include_rule_ids`; each rule's `pattern` runs as one `rg` search over DIR.

Nosey Parker matches with Vectorscan, then re-runs each rule as a Rust `regex::bytes` regex
(Unicode off, `(?#...)` comments stripped) to find the match and its groups. ripgrep uses
the same Rust regex engine, so each pattern gets `(?-u)` in front and `(?#...)` comments
removed, and rg runs with `-U` (the whole file is the haystack, as Nosey Parker's blob is),
`--no-ignore --hidden` (Nosey Parker does not read .gitignore; its default ignore list
names package-manager and site-packages paths the kernel tree does not have) and `-a`
(Nosey Parker scans binary blobs too). Backslashes before punctuation that needs none
(`\\_`) are dropped: older rg releases reject them, the meaning is the same.

Differences: rg reports leftmost-first, non-overlapping matches; Nosey Parker reports one
match per end offset Vectorscan finds and drops a match that lies inside the previous one
of the same rule, which gives the same matches except where a rule's matches overlap.
Nosey Parker counts "findings" as distinct (rule, capture groups) and "matches" as
occurrences: both are printed. Groups come from Python's `re` on the matched text when the
pattern compiles there (else the whole match stands for them).

Before scanning, every rule's own `examples` must match and its `negative_examples` must
not through the same rg command; misbehaving ones are listed on stderr.

Writes one JSON object per match: rule, path (relative to DIR), line, match, groups.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

COMMENT = re.compile(r"\(\?#[^)]*\)")
ESCAPE = re.compile(r"\\(.)", re.S)
# Punctuation that regex >= 1.8 (Nosey Parker's) lets a pattern escape but older ripgrep
# releases reject; unescaped, each means the same literal character.
PLAIN = set("_'\"/:@=!%,;`")


def for_old_rg(pattern):
    """Drops backslashes before PLAIN characters (same meaning, accepted by any rg)."""
    return ESCAPE.sub(lambda m: m.group(1) if m.group(1) in PLAIN else m.group(0), pattern)


def load_default_rules(builtin):
    with open(os.path.join(builtin, "rulesets", "default.yml"), encoding="utf-8") as fh:
        rulesets = yaml.safe_load(fh)["rulesets"]
    wanted = next(r for r in rulesets if r["id"] == "default")["include_rule_ids"]
    rules = {}
    rules_dir = os.path.join(builtin, "rules")
    for name in sorted(os.listdir(rules_dir)):
        if name.endswith(".yml"):
            with open(os.path.join(rules_dir, name), encoding="utf-8") as fh:
                for rule in yaml.safe_load(fh).get("rules", []):
                    rules[rule["id"]] = rule
    missing = [i for i in wanted if i not in rules]
    return [rules[i] for i in wanted if i in rules], missing


def text_of(field):
    if "text" in field:
        return field["text"].encode("utf-8", "surrogateescape")
    return base64.b64decode(field["bytes"])


def rg_command(rule, *extra):
    pattern = COMMENT.sub("", rule["pattern"])
    return [
        "rg", "--no-config", "-U", "--no-ignore", "--hidden", "-a", "--no-messages",
        "--regex-size-limit", "100M", "--dfa-size-limit", "1G", *extra, "-e", "(?-u)" + for_old_rg(pattern),
    ]


def check_examples(rule):
    """The rule's own examples must match and its negative examples must not, through rg."""
    tmp = tempfile.mkdtemp(prefix="np-examples-")
    try:
        want = {}
        for kind, key in (("ex", "examples"), ("neg", "negative_examples")):
            for i, text in enumerate(rule.get(key) or []):
                name = f"{kind}{i}.txt"
                with open(os.path.join(tmp, name), "w", encoding="utf-8") as fh:
                    fh.write(text)
                want[name] = kind == "ex"
        if not want:
            return []
        proc = subprocess.run([*rg_command(rule, "-l"), tmp], capture_output=True, timeout=60, check=False)
        hits = {os.path.basename(p) for p in proc.stdout.decode("utf-8", "replace").splitlines()}
        return [name for name, match in sorted(want.items()) if (name in hits) != match]
    finally:
        shutil.rmtree(tmp)


def run_rule(rule, root, out, timeout):
    pattern = COMMENT.sub("", rule["pattern"])
    try:
        py = re.compile(pattern.encode("utf-8"))
    except re.error:
        py = None
    proc = subprocess.run([*rg_command(rule, "--json"), root], capture_output=True, timeout=timeout, check=False)
    if proc.returncode not in (0, 1):
        return None, proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
    n = 0
    for raw in proc.stdout.splitlines():
        event = json.loads(raw)
        if event["type"] != "match":
            continue
        data = event["data"]
        path = os.path.relpath(text_of(data["path"]).decode("utf-8", "replace"), root)
        lines = text_of(data["lines"])
        for sub in data["submatches"]:
            match = text_of(sub["match"])
            groups = None
            if py is not None:
                m = py.search(match)
                if m is not None and m.groups():
                    groups = [g.decode("latin-1") if g is not None else None for g in m.groups()]
            line = data["line_number"] + lines.count(b"\n", 0, sub["start"])
            out.write(
                json.dumps(
                    {"rule": rule["id"], "path": path, "line": line, "match": match.decode("latin-1"), "groups": groups}
                )
                + "\n"
            )
            n += 1
    return n, None


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    builtin, root, out_path = sys.argv[1:]
    timeout = int(os.environ.get("REVOKD_BENCH_TIMEOUT", "600"))
    rules, missing = load_default_rules(builtin)
    failed = []
    counts = {}
    wrong = {rule["id"]: w for rule in rules if (w := check_examples(rule))}
    examples = sum(len(r.get("examples") or []) + len(r.get("negative_examples") or []) for r in rules)
    with open(out_path, "w", encoding="utf-8") as out:
        for rule in rules:
            n, err = run_rule(rule, root, out, timeout)
            if n is None:
                failed.append((rule["id"], err))
            elif n:
                counts[rule["id"]] = n
    print(f"Nosey Parker default rules: {len(rules)} run, {len(failed)} failed in rg", file=sys.stderr)
    print(f"  rule examples through rg: {examples} checked, {sum(map(len, wrong.values()))} misbehave", file=sys.stderr)
    for rule_id, names in wrong.items():
        print(f"  {rule_id}: examples misbehaving in rg: {' '.join(names)}", file=sys.stderr)
    for rule_id in missing:
        print(f"  listed in default.yml but not defined: {rule_id}", file=sys.stderr)
    for rule_id, err in failed:
        print(f"  rg refused {rule_id}: {' '.join(err)}", file=sys.stderr)
    for rule_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {rule_id}\t{n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
