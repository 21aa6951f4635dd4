#!/usr/bin/env python3
"""Runs the whole test suite and writes TESTING.md: every test case, what it checks, its kind
and its result, grouped by suite; and the README's sentence of counts. Run as root from the
repository root:

    python3 scripts/testing-table.py            # runs the tests, writes TESTING.md
    python3 scripts/testing-table.py LOG        # from the saved output of a test run

What a case checks is the first paragraph of the `///` doc comment on its test function, found
in the workspace's sources; a leading tag gives its kind ("/// [fault] ...", "[hostile]",
"[security]"; untagged is function). A case without a doc comment falls back to its name,
spelled out, with a kind guessed from the name's words; those cases are listed on stderr.
"""
import os
import re
import subprocess
import sys
from collections import OrderedDict

# Fallback only: a case's kind, from the words of its name (whole words, so "defaults" is not a fault).
CATEGORIES = [
    ("security", {"secret", "secrets", "credential", "credentials", "leak", "argv", "steer",
                  "outside", "signature", "signed", "tampered", "tampering", "forged",
                  "injection", "injected", "redacted", "signing", "ephemeral", "openssl"}),
    ("faults", {"sigstop", "sigkill", "sigterm", "killed", "kill", "down", "slow", "proxy",
                "signal", "full", "filling", "deadline", "tiny", "cut", "stopped", "drops",
                "dropping", "vanished", "exits", "exit", "interrupted", "churn", "timeout",
                "unavailable", "silent", "fails", "failed", "mid"}),
    ("hostile input", {"hostile", "malformed", "garbage", "truncated", "panic", "nesting",
                       "laughs", "odd", "bad", "refused", "escaped", "escape", "invalid",
                       "unknown", "wrong", "newline", "newlines", "utf8", "mangled", "loop",
                       "loops", "fifo", "fuzz", "mutated", "corpus", "damaged", "random",
                       "confuse", "lies", "hidden", "masked", "deep", "huge", "recursive"}),
]


def category(name):
    words = set(w for w in re.split(r"[^a-z0-9]+", name.lower()) if w)
    for label, keywords in CATEGORIES:
        if words & keywords:
            return label
    return "function"


# The doc comment's leading tag -> the kind it names.
TAGS = {"fault": "faults", "faults": "faults", "hostile": "hostile input",
        "security": "security", "function": "function"}


def workspace_packages(root):
    """(directory, package name) of each workspace member, from the Cargo.toml files."""
    try:
        with open(os.path.join(root, "Cargo.toml")) as f:
            text = f.read()
    except OSError:
        return []
    m = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    packages = []
    for member in re.findall(r'"([^"]+)"', m.group(1) if m else ""):
        try:
            with open(os.path.join(root, member, "Cargo.toml")) as f:
                name = re.search(r'^name\s*=\s*"([^"]+)"', f.read(), re.M)
        except OSError:
            continue
        packages.append((os.path.join(root, member), name.group(1) if name else member))
    return packages


def suite_root(packages, crate, target):
    """The root source file of a suite: its target path (src/lib.rs, tests/cli.rs) in the
    member that has it, the crate name choosing among several."""
    found = [(d, n) for d, n in packages if target and os.path.isfile(os.path.join(d, target))]
    if len(found) > 1 and crate:
        named = [(d, n) for d, n in found if n.replace("-", "_") == crate]
        found = named or found
    return os.path.join(found[0][0], target) if found else None


def module_file(root_file, modules):
    """The file holding module path `modules` below a crate root; an inline module (`mod
    tests { ... }`) stays in its parent's file."""
    path = root_file
    is_root = True
    for module in modules:
        base = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        children = base if is_root or stem == "mod" else os.path.join(base, stem)
        for candidate in (os.path.join(children, module + ".rs"),
                          os.path.join(children, module, "mod.rs")):
            if os.path.isfile(candidate):
                path, is_root = candidate, False
                break
    return path


def rust_files(directory):
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = [d for d in dirnames if d not in ("target", ".git")]
        for name in sorted(filenames):
            if name.endswith(".rs"):
                yield os.path.join(dirpath, name)


def doc_comment(path, fn):
    """The first paragraph of the `///` comment above `fn NAME` in `path` (attributes such as
    #[test] may sit on either side of it), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    pattern = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+" + re.escape(fn) + r"\b")
    for i, line in enumerate(lines):
        if not pattern.match(line):
            continue
        docs = []
        j = i - 1
        while j >= 0:
            above = lines[j].strip()
            if above.startswith("///"):
                docs.insert(0, above[3:].strip())
            elif not (above.startswith("#[") or above.startswith("#![")):
                break
            j -= 1
        if not docs:
            return None
        paragraph = []
        for doc in docs:
            if not doc:
                if paragraph:
                    break
                continue
            paragraph.append(doc)
        return " ".join(paragraph) or None
    return None


def find_doc(packages, suite, name):
    """The doc comment of case `name` of `suite`: in the module's file first, else in any file
    of the suite's member that defines the function."""
    m = re.match(r"(?:([A-Za-z0-9_]+): )?(\S+\.rs)$", suite)
    if not m:
        return None
    root_file = suite_root(packages, m.group(1), m.group(2))
    if not root_file:
        return None
    parts = name.split("::")
    fn = parts[-1]
    first = module_file(root_file, parts[:-1])
    doc = doc_comment(first, fn)
    if doc is not None:
        return doc
    member = os.path.dirname(os.path.dirname(root_file))
    for path in rust_files(member):
        if path != first:
            doc = doc_comment(path, fn)
            if doc is not None:
                return doc
    return None


def describe(packages, suite, name):
    """(kind, what it checks, documented?) of one case."""
    doc = find_doc(packages, suite, name)
    if doc:
        m = re.match(r"\[([a-z ]+)\]\s*(.*)$", doc)
        if m and m.group(1) in TAGS:
            return TAGS[m.group(1)], m.group(2), True
        if m:
            print(f"warning: {name}: unknown tag [{m.group(1)}], counted as function",
                  file=sys.stderr)
        return "function", doc, True
    short = name.split("::")[-1]
    return category(name), short.replace("_", " "), False


def cell(text):
    return text.replace("|", "\\|")


# When one case ran more than once (scripts/test.sh reruns the fuzz case with more cases), it
# is one row: FAILED if any run failed, else ok if any run passed.
RANK = {"FAILED": 2, "ok": 1, "ignored": 0}


def parse(text):
    """Suite name -> list of (case, result) from cargo test output, each case once."""
    suites = OrderedDict()
    suite = "?"
    for line in text.splitlines():
        m = re.match(r"\s*Running (?:unittests )?(\S+)(?: \(\S*/deps/([A-Za-z0-9_]+?)-[0-9a-f]+\))?", line)
        if m:
            suite = m.group(1) if not m.group(2) else f"{m.group(2)}: {m.group(1)}"
            continue
        m = re.match(r"\s*Doc-tests (\S+)", line)
        if m:
            suite = f"doc-tests {m.group(1)}"
            continue
        m = re.match(r"test (\S+) \.\.\. (ok|FAILED|ignored)", line)
        if m:
            cases = suites.setdefault(suite, OrderedDict())
            name, result = m.group(1), m.group(2)
            if RANK[result] >= RANK.get(cases.get(name), -1):
                cases[name] = result
    return OrderedDict((k, list(v.items())) for k, v in suites.items())


def main():
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            text = f.read()
        returncode = 0 if "FAILED" not in text else 1
    else:
        proc = subprocess.run(
            ["cargo", "test", "--workspace", "--", "--test-threads=2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        text, returncode = proc.stdout, proc.returncode
    suites = parse(text)
    packages = workspace_packages(".")
    total = sum(len(v) for v in suites.values())
    passed = sum(1 for v in suites.values() for _, r in v if r == "ok")
    rows = OrderedDict()
    undocumented = []
    counts = {}
    for suite, tests in suites.items():
        rows[suite] = []
        for name, result in tests:
            kind, what, documented = describe(packages, suite, name)
            if not documented:
                undocumented.append(f"{suite}: {name}")
            counts[kind] = counts.get(kind, 0) + 1
            rows[suite].append((name, kind, what, result))
    out = ["# vestige test cases", "",
           f"Generated by `python3 scripts/testing-table.py` (runs `cargo test --workspace`): "
           f"**{passed} of {total} passed**. By kind: "
           + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".", "",
           "What each case checks is the first paragraph of its test function's doc comment, and "
           "its kind the comment's tag (untagged is function); the code beside it holds the "
           "assertions.", ""]
    for suite, tests in rows.items():
        out += [f"## {suite}", "", "| case | kind | what it checks | result |", "|---|---|---|---|"]
        for name, kind, what, result in tests:
            out.append(f"| `{name}` | {kind} | {cell(what)} | {result} |")
        out.append("")
    if undocumented:
        print(f"warning: {len(undocumented)} cases have no doc comment; their names and a "
              "kind guessed from the name stand in:", file=sys.stderr)
        for case in undocumented:
            print(f"  {case}", file=sys.stderr)
    with open("TESTING.md", "w") as f:
        f.write("\n".join(out))
    update_readme(total, counts)
    print(f"{passed}/{total} passed; TESTING.md and the README's counts written")
    return returncode


def update_readme(total, counts):
    """Keeps the README's sentence of case counts equal to the table."""
    with open("README.md") as f:
        text = f.read()
    sentence = (f"The suite has {total} cases — {counts.get('function', 0)} of function, "
                f"{counts.get('hostile input', 0)} of hostile input, {counts.get('faults', 0)} of faults, "
                f"{counts.get('security', 0)} of\nsecurity")
    new = re.sub(r"The suite has \d+ cases — \d+ of function, \d+ of hostile input, \d+ of faults, "
                 r"\d+ of\s+security", sentence, text, count=1)
    with open("README.md", "w") as f:
        f.write(new)


if __name__ == "__main__":
    sys.exit(main())
