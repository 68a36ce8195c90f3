#!/usr/bin/env python3
"""Write ripgrep's reference pattern file from revokd rule files.

Usage: rg_patterns.py PATTERNS_DIR OUT_FILE

One line per distinct literal of every rule in PATTERNS_DIR/*.toml: `prefixes` as
case-sensitive literals, `keywords` as case-insensitive literals `(?i:...)`, the way
revokd's prefilter matches them. Regex metacharacters are escaped. Prints
"<rules> rules, <prefixes> prefixes, <keywords> keywords, <lines> pattern lines".
"""
import glob
import os
import sys
import tomllib

# Escape only the classic metacharacters: ripgrep 13's regex crate rejects escapes of
# other characters (`\ ` is an error there).
META = set("\\.+*?()|[]{}^$#&-~")


def escape(literal: str) -> str:
    return "".join("\\" + c if c in META else c for c in literal)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    pattern_dir, out_path = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(pattern_dir, "*.toml")))
    if not files:
        print(f"rg_patterns.py: no *.toml in {pattern_dir}", file=sys.stderr)
        return 2
    rules = prefixes = keywords = 0
    lines: list[str] = []
    seen: set[str] = set()
    for path in files:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        for rule in doc.get("rules", []):
            rules += 1
            for literal in rule.get("prefixes", []):
                prefixes += 1
                line = escape(literal)
                if line not in seen:
                    seen.add(line)
                    lines.append(line)
            for literal in rule.get("keywords", []):
                keywords += 1
                line = "(?i:" + escape(literal) + ")"
                if line not in seen:
                    seen.add(line)
                    lines.append(line)
    if any("\n" in line or "\r" in line for line in lines):
        print("rg_patterns.py: a literal contains a line break", file=sys.stderr)
        return 2
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print(f"{rules} rules, {prefixes} prefixes, {keywords} keywords, {len(lines)} pattern lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
