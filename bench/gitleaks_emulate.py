#!/usr/bin/env python3
"""Runs a gitleaks-format rule file over a directory the way `gitleaks dir` does, without gitleaks.

Usage: gitleaks_emulate.py GITLEAKS_TOML DIR OUT_JSONL

For machines without a Go toolchain. Regexes run on RE2 (the `google-re2` module): Go's
`regexp` package implements RE2 syntax and semantics, so rule regexes behave as in gitleaks.
What is reproduced, per gitleaks' `dir` source and detector:

- the walk: symlinks and empty files skipped, global allowlist `paths` skip files; no
  .gitignore handling; files cut into 100,000-byte fragments, each extended (up to 25,000
  bytes) to a blank line, as gitleaks' reader does; a fragment whose first bytes are a
  known binary or archive signature skips the file (gitleaks asks `filetype` for an
  `application/*` type; this script knows the common signatures), and so does an archive
  file name (no `--max-archive-depth`);
- per fragment: the lowercased text must contain one of a rule's `keywords` (rules without
  keywords always run); path-only rules report the file; rule `path` must match when set;
- per match: the match trimmed of newlines, `secretGroup` (else the first non-empty group,
  the regex being re-run on the match alone), a line containing `gitleaks:allow` skipped,
  Shannon entropy over the secret must exceed `entropy`, then global and rule allowlists
  (`regexes` against `regexTarget` secret/match/line, `stopwords` in the lowercased
  secret, `paths`, `condition` OR/AND);
- a finding of a rule whose id contains "generic" is dropped when a non-generic finding on
  the same line contains its secret; `DIR/.gitleaksignore` fingerprints (`file:rule:line`)
  are dropped; a global allowlist with `targetRules` applies to those rules only.

Multi-part rules (`[[rules.required]]`) keep a finding only with a finding of each required
rule within `withinLines`/`withinColumns`. Not reproduced: the decoding passes
(`--max-decode-depth`, base64/hex/percent/unicode segments decoded and rescanned), which can
only add findings, so counts from this script are a lower bound on gitleaks' own. Invalid UTF-8 is
read as U+FFFD, as Go's regexp reads it.

Writes one JSON object per finding: rule, path (relative to DIR), line, secret, match.
Prints per-rule counts and the rules it could not compile to stderr.
"""

import json
import math
import os
import sys
import tomllib

import re2

FRAGMENT = 100_000
MAX_PEEK = 25_000
BUFIO_SIZE = 4096
# File names mholt/archives identifies as archives: gitleaks skips them (no --max-archive-depth).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst", ".lz4", ".br", ".sz", ".7z", ".rar", ".lz")
WHITESPACE = b" \t\n\r"
ALLOW_SIGNATURE = "gitleaks:allow"
# Signatures of the `application/*` types h2non/filetype detects that occur in source trees.
BINARY_MAGIC = [
    (0, b"\x7fELF"),
    (0, b"\x1f\x8b"),
    (0, b"PK\x03\x04"),
    (0, b"%PDF"),
    (0, b"\xfd7zXZ\x00"),
    (0, b"BZh"),
    (0, b"7z\xbc\xaf\x27\x1c"),
    (0, b"{\\rtf"),
    (0, b"SQLite format 3\x00"),
    (0, b"\x00asm"),
    (0, b"MZ"),
    (0, b"!<arch>\n"),
    (0, b"\x28\xb5\x2f\xfd"),
    (0, b"Rar!\x1a\x07"),
    (257, b"ustar"),
]


def compile_re(pattern, what, problems):
    try:
        return re2.compile(pattern)
    except Exception as e:  # re2 raises its own error type
        problems.append(f"{what}: {e}")
        return None


class Allowlist:
    def __init__(self, spec, what, problems):
        self.condition_and = spec.get("condition", "OR").upper() == "AND"
        self.target = spec.get("regexTarget", "secret")
        self.paths = [r for r in (compile_re(p, what, problems) for p in spec.get("paths", [])) if r]
        self.regexes = [r for r in (compile_re(p, what, problems) for p in spec.get("regexes", [])) if r]
        self.stopwords = [w.lower() for w in spec.get("stopwords", [])]
        self.has_commits = bool(spec.get("commits"))
        self.target_rules = spec.get("targetRules", [])

    def path_allowed(self, path):
        return any(r.search(path) for r in self.paths)

    def skips_path(self, path):
        """checkCommitOrPathAllowed: a directory scan has no commit."""
        if self.condition_and:
            if self.regexes or self.stopwords:
                return False
            checks = ([False] if self.has_commits else []) + ([self.path_allowed(path)] if self.paths else [])
            return all(checks)
        return self.path_allowed(path)

    def skips_finding(self, path, secret, match, line):
        target = {"match": match, "line": line}.get(self.target, secret)
        regex_ok = bool(target) and any(r.search(target) for r in self.regexes)
        low = secret.lower()
        stop_ok = bool(secret) and any(w in low for w in self.stopwords)
        if self.condition_and:
            checks = []
            if self.has_commits:
                checks.append(False)
            if self.paths:
                checks.append(self.path_allowed(path))
            if self.regexes:
                checks.append(regex_ok)
            if self.stopwords:
                checks.append(stop_ok)
            return all(checks)
        return regex_ok or stop_ok


def allowlists_of(spec, what, problems):
    lists = []
    for key in ("allowlist", "allowlists"):
        value = spec.get(key)
        if isinstance(value, dict):
            lists.append(Allowlist(value, what, problems))
        elif isinstance(value, list):
            lists.extend(Allowlist(v, what, problems) for v in value)
    return lists


class Rule:
    def __init__(self, spec, problems):
        self.id = spec["id"]
        self.regex = compile_re(spec["regex"], self.id, problems) if "regex" in spec else None
        self.path = compile_re(spec["path"], self.id, problems) if "path" in spec else None
        self.broken = ("regex" in spec and self.regex is None) or ("path" in spec and self.path is None)
        self.secret_group = spec.get("secretGroup", 0)
        self.entropy = float(spec.get("entropy", 0.0))
        self.keywords = [k.lower() for k in spec.get("keywords", [])]
        self.allowlists = allowlists_of(spec, self.id, problems)
        self.generic = "generic" in self.id.lower()
        self.skip_report = spec.get("skipReport", False)
        self.required = spec.get("required", [])


def shannon(s):
    """gitleaks' shannonEntropy: counts per rune, frequencies over the length in bytes."""
    if not s:
        return 0.0
    counts = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    inv = 1.0 / len(s.encode("utf-8", "surrogatepass"))
    return -sum(c * inv * math.log2(c * inv) for c in counts.values())


def is_binary(head):
    return any(head[off : off + len(sig)] == sig for off, sig in BINARY_MAGIC)


def fragments(data):
    """(start line, bytes) pieces as gitleaks' File.fileFragments cuts them.

    gitleaks reads through a 4096-byte `bufio.Reader`: a 100,000-byte read goes straight to
    the file when nothing is buffered, but returns only the buffered rest after the
    byte-wise read-ahead to a blank line has filled the buffer.
    """
    pos, line, buffered_end = 0, 1, 0
    while pos < len(data):
        if buffered_end > pos:
            end = pos + min(FRAGMENT, buffered_end - pos)
        else:
            end = min(pos + FRAGMENT, len(data))
        n = end - pos
        chunk_end = end
        if not ends_in_blank_line(data, pos, end):
            newlines = 0
            while True:
                last = data[chunk_end - 1]
                if last == 0x0A:
                    newlines += 1
                    if newlines >= 2:
                        break
                elif last not in WHITESPACE:
                    newlines = 0
                if chunk_end - pos - n >= MAX_PEEK or chunk_end >= len(data):
                    break
                if chunk_end >= buffered_end:
                    buffered_end = min(chunk_end + BUFIO_SIZE, len(data))
                chunk_end += 1
        piece = data[pos:chunk_end]
        yield line, piece
        line += piece.count(b"\n")
        pos = chunk_end


def ends_in_blank_line(data, start, end):
    if data[end - 1] not in WHITESPACE:
        return False
    newlines = 0
    for i in range(end - 1, start - 1, -1):
        c = data[i]
        if c == 0x0A:
            newlines += 1
            if newlines >= 2:
                return True
        elif c not in WHITESPACE:
            return False
    return False


def first_group(groups):
    for g in groups:
        if g:
            return g
    return None


def detect_rule(rule, raw, path, start_line, global_lists):
    found = []
    for m in rule.regex.finditer(raw):
        secret = m.group(0).strip("\n")
        start = m.start()
        end = start + len(secret)
        line_start = raw.rfind("\n", 0, start)
        line_start = 0 if line_start < 0 else line_start
        line_end = raw.find("\n", end)
        line_end = len(raw) if line_end < 0 else line_end
        line = raw[line_start:line_end]
        if ALLOW_SIGNATURE in line:
            continue
        match = secret
        sub = rule.regex.search(match)
        if sub is not None and rule.regex.groups >= 1:
            groups = [g or "" for g in sub.groups()]
            if rule.secret_group > 0:
                if len(groups) < rule.secret_group:
                    continue
                secret = groups[rule.secret_group - 1]
            else:
                secret = first_group(groups) or secret
        if rule.entropy != 0.0 and shannon(secret) <= rule.entropy:
            continue
        if any(a.skips_finding(path, secret, match, line) for a in global_lists):
            continue
        if any(a.skips_finding(path, secret, match, line) for a in rule.allowlists):
            continue
        found.append(
            {
                "rule": rule.id,
                "line": start_line + raw.count("\n", 0, start),
                "column": start - line_start + 1,
                "secret": secret,
                "match": match,
            }
        )
    return found


def with_required(rule, primary, raw, path, start_line, global_lists, by_id):
    """processRequiredRules: a finding stays only with a finding of every required rule nearby."""
    if not rule.required or not primary:
        return primary
    aux = {}
    for req in rule.required:
        other = by_id.get(req["id"])
        if other is not None and other.regex is not None:
            aux[req["id"]] = detect_rule(other, raw, path, start_line, global_lists)
    kept = []
    for f in primary:
        ok = True
        for req in rule.required:
            near = [
                g
                for g in aux.get(req["id"], [])
                if ("withinLines" not in req or abs(f["line"] - g["line"]) <= req["withinLines"])
                and ("withinColumns" not in req or abs(f["column"] - g["column"]) <= req["withinColumns"])
            ]
            ok = ok and bool(near)
        if ok:
            kept.append(f)
    return kept


def generic_filter(findings):
    kept = []
    for f in findings:
        if "generic" in f["rule"].lower() and any(
            g["line"] == f["line"]
            and g["rule"] != f["rule"]
            and f["secret"] in g["secret"]
            and "generic" not in g["rule"].lower()
            for g in findings
        ):
            continue
        kept.append(f)
    return kept


def scan_file(full, rules, global_lists, by_id):
    if any(a.skips_path(full) for a in global_lists):
        return []
    if full.lower().endswith(ARCHIVE_SUFFIXES):
        return []
    with open(full, "rb") as fh:
        data = fh.read()
    if not data:
        return []
    if is_binary(data[:FRAGMENT]):
        return []
    live = [r for r in rules if not any(a.skips_path(full) for a in r.allowlists)]
    out = []
    for start_line, piece in fragments(data):
        raw = piece.decode("utf-8", "replace")
        lower = raw.lower()
        findings = []
        for rule in live:
            if rule.skip_report:
                continue
            if rule.keywords and not any(k in lower for k in rule.keywords):
                continue
            if rule.path is not None:
                if not rule.path.search(full):
                    continue
                if rule.regex is None:
                    if start_line == 1:
                        findings.append({"rule": rule.id, "line": 0, "secret": "", "match": "file detected"})
                    continue
            if rule.regex is None:
                continue
            primary = detect_rule(rule, raw, full, start_line, global_lists)
            findings.extend(with_required(rule, primary, raw, full, start_line, global_lists, by_id))
        out.extend(generic_filter(findings))
    return out


def read_gitleaksignore(path):
    """Fingerprints `file:rule:line` of DIR/.gitleaksignore (commit fingerprints never match a directory)."""
    if not os.path.isfile(path):
        return set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = (line.strip() for line in fh)
        return {line.replace("\\", "/") for line in lines if line and not line.startswith("#")}


def walk(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            yield full


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    config_path, root, out_path = sys.argv[1:]
    with open(config_path, "rb") as fh:
        config = tomllib.load(fh)
    problems = []
    global_lists = allowlists_of(config, "global allowlist", problems)
    rules = [Rule(spec, problems) for spec in config.get("rules", [])]
    # A global allowlist with `targetRules` belongs to those rules only, as gitleaks loads it.
    for allow in [a for a in global_lists if a.target_rules]:
        for rule in rules:
            if rule.id in allow.target_rules:
                rule.allowlists.append(allow)
    global_lists = [a for a in global_lists if not a.target_rules]
    by_id = {r.id: r for r in rules}
    ignored = read_gitleaksignore(os.path.join(root, ".gitleaksignore"))
    broken = [r.id for r in rules if r.broken]
    rules = [r for r in rules if not r.broken]
    counts = {}
    files = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for full in walk(root):
            files += 1
            for f in scan_file(full, rules, global_lists, by_id):
                f.pop("column", None)
                if f"{full}:{f['rule']}:{f['line']}" in ignored:
                    continue
                f["path"] = os.path.relpath(full, root)
                counts[f["rule"]] = counts.get(f["rule"], 0) + 1
                out.write(json.dumps(f) + "\n")
    print(f"gitleaks rules: {len(rules)} run, {len(broken)} not compiled; {files} files walked", file=sys.stderr)
    for p in problems:
        print(f"  regex not compiled by RE2: {p}", file=sys.stderr)
    for rule_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {rule_id}\t{n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
