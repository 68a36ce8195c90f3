#!/usr/bin/env python3
"""Turns a real Nosey Parker report into bench/noseyparker_rg.py's format.

Usage: noseyparker_report.py REPORT_JSONL DIR OUT_JSONL

REPORT_JSONL is `noseyparker report --format jsonl --max-matches 0` (one finding a line,
every match listed; Nosey Parker's default score and redundancy filters stay on). Writes
one JSON object per match: rule (the rule's text id), path (relative to DIR), line, match,
groups — the input bench/precision_report.py reads for Nosey Parker.
"""

import base64
import json
import os
import sys


def decode(value):
    """Nosey Parker writes capture groups as standard base64 (snippets as text)."""
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("latin-1")
    except (ValueError, TypeError):
        return value


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    report, root, out_path = sys.argv[1:]
    root = os.path.realpath(root)
    n = 0
    with open(report, encoding="utf-8") as src, open(out_path, "w", encoding="utf-8") as out:
        for raw in src:
            if not raw.strip():
                continue
            finding = json.loads(raw)
            for m in finding["matches"]:
                paths = [p["path"] for p in m["provenance"] if p.get("kind") == "file" and "path" in p]
                if not paths:
                    continue
                path = os.path.relpath(os.path.realpath(paths[0]), root)
                groups = [decode(g) for g in m.get("groups", [])]
                row = {
                    "rule": m["rule_text_id"],
                    "path": path,
                    "line": m["location"]["source_span"]["start"]["line"],
                    "match": m["snippet"]["matching"],
                    "groups": groups,
                }
                out.write(json.dumps(row) + "\n")
                n += 1
    print(f"{n} matches", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
