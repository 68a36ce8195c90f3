#!/usr/bin/env python3
"""Compares the findings of revokd, gitleaks' rules and Nosey Parker's rules on the corpus.

Usage: precision_report.py CORPUS --revokd JSON [--gitleaks JSONL] [--noseyparker JSONL]
                           [--noseyparker-real JSONL] [--imported JSON]

--revokd: a `revokd scan --format json` report. --gitleaks, --noseyparker: the output of
bench/gitleaks_emulate.py and bench/noseyparker_rg.py. --noseyparker-real: a real Nosey
Parker report converted by bench/noseyparker_report.py. --imported: a revokd report of
gitleaks' rules converted by `revokd patterns import-gitleaks`, rule ids prefixed `gl_`.

A finding in planted/ counts towards recall: a planted file is found when a tool reports
anything in it (each holds one fake secret in filler words). Outside planted/, a finding is
true only in one of KEY_FILES, the real (test) private keys of the kernel tree; everything
else is a false positive. Prints the comparison and every revokd finding outside planted/.
"""

import argparse
import json
import os
import sys
from collections import Counter

# Real private keys shipped in the corpus's part of the Linux 6.1 tree (found by every tool's
# PEM rule; checked by hand: a complete PEM private-key block).
KEY_FILES = {"tools/testing/selftests/sgx/sign_key.pem"}
# planted/ file name suffix -> format (bench/plant.py), in EXPECTED.tsv's order.
FORMATS = [
    ("llm.env", "xai_api_key"),
    ("ci.yml", "github_token"),
    ("deploy.sh", "github_fine_grained_pat"),
    ("cloud.ini", "aws_access_key_id"),
    ("host.pem", "private_key"),
]


def rel(path, corpus):
    return os.path.relpath(path, corpus) if os.path.isabs(path) else os.path.normpath(path)


def load_revokd(path, corpus, keep=lambda rule: True):
    with open(path, encoding="utf-8") as fh:
        report = json.load(fh)
    rows = [
        {"rule": f["rule"], "path": rel(f["path"], corpus), "line": f["line"], "id": f["secret_sha256"]}
        for f in report["findings"]
        if keep(f["rule"])
    ]
    return rows, report.get("stats", {})


def load_jsonl(path, corpus, identity):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            f = json.loads(raw)
            rows.append({"rule": f["rule"], "path": rel(f["path"], corpus), "line": f["line"], "id": identity(f)})
    return rows


def planted_files(corpus):
    names = sorted(n for n in os.listdir(os.path.join(corpus, "planted")) if n != "EXPECTED.tsv")
    return {f"planted/{n}": fmt for n in names for suffix, fmt in FORMATS if n.endswith(suffix)}


def summarize(name, rows, planted, rules_run):
    inside = [r for r in rows if r["path"].startswith("planted/")]
    outside = [r for r in rows if not r["path"].startswith("planted/")]
    true_out = [r for r in outside if r["path"] in KEY_FILES]
    false_out = [r for r in outside if r["path"] not in KEY_FILES]
    found = {r["path"] for r in inside}
    recall = Counter(fmt for path, fmt in planted.items() if path in found)
    return {
        "name": name,
        "rules": rules_run,
        "total": len(rows),
        "planted": len(inside),
        "outside": len(outside),
        "true_out": len(true_out),
        "fp": len(false_out),
        "fp_distinct": len({(r["rule"], r["id"]) for r in false_out}),
        "fp_files": len({r["path"] for r in false_out}),
        "recall": recall,
        "found": len(found),
        "per_rule": Counter(r["rule"] for r in rows),
        "per_rule_fp": Counter(r["rule"] for r in false_out),
        "example": {r["rule"]: f"{r['path']}:{r['line']}" for r in reversed(false_out)},
        "false_out": false_out,
        "outside_rows": outside,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--revokd", required=True)
    parser.add_argument("--gitleaks")
    parser.add_argument("--noseyparker")
    parser.add_argument("--noseyparker-real")
    parser.add_argument("--imported")
    args = parser.parse_args()
    corpus = args.corpus
    planted = planted_files(corpus)
    rules_env = os.environ.get("PRECISION_RULE_COUNTS", "")
    rules_run = dict(item.split("=", 1) for item in rules_env.split(",") if "=" in item)

    def np_identity(f):
        return json.dumps(f["groups"] or [f["match"]])

    revokd_rows, stats = load_revokd(args.revokd, corpus)
    tools = [summarize("revokd (shipped rules)", revokd_rows, planted, rules_run.get("revokd", "?"))]
    if args.gitleaks:
        rows = load_jsonl(args.gitleaks, corpus, lambda f: f["secret"])
        tools.append(summarize("gitleaks default config", rows, planted, rules_run.get("gitleaks", "?")))
    if args.noseyparker:
        rows = load_jsonl(args.noseyparker, corpus, np_identity)
        tools.append(summarize("Nosey Parker default (rg)", rows, planted, rules_run.get("noseyparker", "?")))
    if args.noseyparker_real:
        rows = load_jsonl(args.noseyparker_real, corpus, np_identity)
        tools.append(summarize("Nosey Parker (real binary)", rows, planted, rules_run.get("noseyparker", "?")))
    if args.imported:
        rows, _ = load_revokd(args.imported, corpus, keep=lambda rule: rule.startswith("gl_"))
        tools.append(summarize("gitleaks rules via import", rows, planted, rules_run.get("imported", "?")))

    print(f"corpus: {corpus}: {stats.get('files', '?')} files scanned by revokd, {len(planted)} planted files")
    print(f"true findings outside planted/: any finding in {', '.join(sorted(KEY_FILES))}")
    print()
    head = f"{'':28} {'rules':>5} {'total':>6} {'planted/':>8} {'kernel':>7} {'in keys':>7} {'FP':>6} {'FP dist':>7} {'FP files':>8}"
    print(head)
    for t in tools:
        print(
            f"{t['name']:28} {t['rules']:>5} {t['total']:>6} {t['planted']:>8} {t['outside']:>7} {t['true_out']:>7} "
            f"{t['fp']:>6} {t['fp_distinct']:>7} {t['fp_files']:>8}"
        )
    print()
    print("Recall on planted/ (files with a finding / planted files, per format):")
    totals = Counter(planted.values())
    print(f"{'':28} " + " ".join(f"{fmt[:14]:>14}" for _, fmt in FORMATS) + f" {'all':>7}")
    for t in tools:
        cells = " ".join(f"{str(t['recall'][fmt]) + '/' + str(totals[fmt]):>14}" for _, fmt in FORMATS)
        found = f"{t['found']}/{len(planted)}"
        print(f"{t['name']:28} {cells} {found:>7}")
    for t in tools:
        print()
        print(f"{t['name']}: findings per rule (all / false positives outside planted/; an example FP)")
        for rule, n in sorted(t["per_rule"].items(), key=lambda kv: (-t["per_rule_fp"][kv[0]], -kv[1], kv[0])):
            print(f"  {rule:44} {n:>6} {t['per_rule_fp'][rule]:>6}  {t['example'].get(rule, '')}")
    print()
    print("revokd findings outside planted/ (every one):")
    for r in tools[0]["outside_rows"]:
        kind = "real key file" if r["path"] in KEY_FILES else "FALSE POSITIVE"
        print(f"  {r['path']}:{r['line']}  {r['rule']}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
