#!/usr/bin/env python3
"""Prints the LICENSE-NOTE shipped beside the static vestige binary: vestige's own license, the
statically linked C library (glibc, LGPL), and every Rust crate compiled into the binary for
TARGET with the license its package declares.

    license-note.py TARGET     (e.g. x86_64-unknown-linux-gnu; run at the workspace root)

Crates are those reachable from the `vestige` package through normal (not dev or build)
dependencies with its default features, for TARGET only; procedural macros run at build time
and are not in the binary, so they are left out.
"""

import json
import os
import platform
import subprocess
import sys


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    target = argv[1]
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline",
         "--filter-platform", target],
        check=True, stdout=subprocess.PIPE).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p for p in meta["packages"]
                if p["name"] == "vestige" and p["id"] in meta["workspace_members"])

    def proc_macro(pkg):
        return any("proc-macro" in t["kind"] for t in pkg["targets"])

    linked, todo = set(), [root["id"]]
    while todo:
        pid = todo.pop()
        if pid in linked:
            continue
        linked.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                if not proc_macro(packages[dep["pkg"]]):
                    todo.append(dep["pkg"])
    linked -= set(meta["workspace_members"])  # vestige's own code

    libc = ""
    if platform.machine() == target.split("-", 1)[0]:
        try:
            libc = " " + os.confstr("CS_GNU_LIBC_VERSION").split()[-1]
        except (ValueError, OSError, AttributeError, IndexError):
            libc = ""
    out = [
        f"vestige {root['version']} ({target})",
        "",
        f"vestige is licensed under {root.get('license') or 'the terms in its repository'}.",
        "",
        "This binary is statically linked. Besides vestige's own code it contains:",
        "",
        f"- The GNU C Library (glibc{libc}), licensed under the GNU Lesser General Public",
        "  License, version 2.1 or later (LGPL-2.1-or-later). Source: https://sourceware.org/glibc/",
        "  or the glibc source package of the distribution the binary was built on.",
        "- The Rust standard library, licensed under MIT OR Apache-2.0.",
        "- The Rust crates below, each under the license its package declares (an SPDX",
        "  expression; the license texts are in each crate's published source):",
        "",
    ]
    rows = sorted((packages[p]["name"], packages[p]["version"],
                   packages[p].get("license") or "see " + (packages[p].get("license_file") or
                                                           "its repository"))
                  for p in linked)
    width = max(len(f"{n} {v}") for n, v, _ in rows)
    for name, version, lic in rows:
        out.append(f"  {name + ' ' + version:<{width}}  {lic}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
