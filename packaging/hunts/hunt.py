#!/usr/bin/env python3
"""Run vestige hunts (SQL) locally over many collections, for responders without Athena.

    hunt.py [--case NAME] [--param NAME=VALUE ...] [--format table|jsonl] QUERY.sql ROOT [ROOT ...]

Each ROOT is a directory holding collections at any depth (a case directory written by
`vestige collect --out ROOT`, or a copy of an S3 case prefix made with `aws s3 sync`). Every
`manifest.json` found below it is one collection. A collection's record artifacts become rows of
the tables that packaging/athena/tables.sql defines -- the same file, the same column list, the
same partition columns (case_id, host_id, collection_id) as in Athena -- so one query file runs
unchanged in both places.

Before a record artifact is read, its stored bytes are hashed and compared with the manifest's
`stored_sha256`; an artifact that does not match (or is missing, or encrypted) is left out and
named on stderr. Use `vestige verify` for the full check.

Query files are plain SQL with `?` placeholders. A `-- params: a, b` header line names them in
order; pass values with `--param a=VALUE`. Athena runs the same file with
`--execution-parameters` in the same order.

The engine is DuckDB (`pip install duckdb`), reading zstd JSONL directly. A few Presto/Trino
functions that hunts use are defined as DuckDB macros (see TRINO_COMPAT), so the query pack stays
in Athena's dialect.

Exit status: 0 with rows or without; 2 on a usage or query error.
"""

import argparse
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DDL = os.path.join(HERE, "..", "athena", "tables.sql")

PARTITION_COLUMNS = ("case_id", "host_id", "collection_id")

# Presto/Trino (Athena engine v3) functions used by the query pack, defined for DuckDB.
TRINO_COMPAT = [
    "CREATE OR REPLACE MACRO array_join(a, sep) AS array_to_string(a, sep)",
    "CREATE OR REPLACE MACRO regexp_like(s, pattern) AS regexp_matches(s, pattern)",
    "CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
]


class HuntError(Exception):
    """A usage, schema or query problem, reported with exit status 2."""


# ---------------------------------------------------------------------------------------------
# Schema: the Athena DDL is the one column list.

_TABLE_RE = re.compile(
    r"CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:`[^`]+`\.)?`([A-Za-z_][A-Za-z0-9_]*)`\s*\(",
    re.IGNORECASE,
)
_COLUMN_RE = re.compile(r"^\s*`([A-Za-z_][A-Za-z0-9_]*)`\s+(.+?)\s*,?\s*$")


def parse_ddl(text):
    """{table: [(column, athena_type), ...]} from tables.sql, in file order."""
    tables = {}
    for m in _TABLE_RE.finditer(text):
        body_start = m.end()
        # The column list ends at the ')' that closes the opening '(' (types contain '<>' only).
        depth, i = 1, body_start
        while i < len(text) and depth:
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
            i += 1
        if depth:
            raise HuntError(f"table {m.group(1)}: unterminated column list")
        columns = []
        for line in text[body_start : i - 1].splitlines():
            if not line.strip() or line.strip().startswith("--"):
                continue
            cm = _COLUMN_RE.match(line)
            if not cm:
                raise HuntError(f"table {m.group(1)}: cannot read column line {line.strip()!r}")
            columns.append((cm.group(1), cm.group(2).strip()))
        if not columns:
            raise HuntError(f"table {m.group(1)}: no columns")
        tables[m.group(1)] = columns
    if not tables:
        raise HuntError("no CREATE EXTERNAL TABLE statement found")
    return tables


def _split_top_level(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def duckdb_type(athena_type):
    """DuckDB type for an Athena/Hive column type."""
    t = athena_type.strip()
    low = t.lower()
    simple = {
        "string": "VARCHAR",
        "bigint": "BIGINT",
        "int": "INTEGER",
        "integer": "INTEGER",
        "smallint": "SMALLINT",
        "tinyint": "TINYINT",
        "boolean": "BOOLEAN",
        "double": "DOUBLE",
        "float": "FLOAT",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
    }
    if low in simple:
        return simple[low]
    if low.startswith("array<") and low.endswith(">"):
        return duckdb_type(t[6:-1]) + "[]"
    if low.startswith("struct<") and low.endswith(">"):
        fields = []
        for f in _split_top_level(t[7:-1]):
            name, sep, ftype = f.partition(":")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
                raise HuntError(f"cannot read struct field {f!r}")
            fields.append(f'"{name.strip()}" {duckdb_type(ftype)}')
        return "STRUCT(" + ", ".join(fields) + ")"
    raise HuntError(f"unsupported column type {athena_type!r}")


# ---------------------------------------------------------------------------------------------
# Collections


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def find_collections(root):
    """Paths of every manifest.json below root (symlinks are not followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        if "manifest.json" in filenames:
            found.append(os.path.join(dirpath, "manifest.json"))
            dirnames[:] = []  # a collection root holds no further collections
    return found


def record_files(roots, tables, case=None, verify=True, warn=None):
    """[(table, file, case_id, host_id, collection_id)] for every usable record artifact."""
    warn = warn or (lambda msg: print(f"hunt: {msg}", file=sys.stderr))
    rows = []
    for root in roots:
        if not os.path.isdir(root):
            raise HuntError(f"{root}: not a directory")
        case_id = case or os.path.basename(os.path.normpath(os.path.abspath(root)))
        manifests = find_collections(root)
        if not manifests:
            warn(f"{root}: no collection (manifest.json) found")
        for manifest_path in manifests:
            coll_root = os.path.dirname(manifest_path)
            try:
                with open(manifest_path, "rb") as f:
                    manifest = json.load(f)
                host_id = str(manifest["host_id"])
                collection_id = str(manifest["collection_id"])
                artifacts = list(manifest["artifacts"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                warn(f"{manifest_path}: unreadable manifest, collection left out ({e})")
                continue
            for a in artifacts:
                if not isinstance(a, dict):
                    continue
                kind, path = a.get("kind") or a.get("name"), a.get("path")
                if kind not in tables or a.get("status") not in ("ok", "partial") or not path:
                    continue
                if not path.endswith(".jsonl.zst"):
                    # Recovered executables and other byte artifacts share a kind; only
                    # records are rows. Encrypted records must be decrypted first.
                    if ".jsonl" in path:
                        warn(f"{coll_root}: {path} is not plain zstd JSONL (encrypted?), left out")
                    continue
                file = os.path.normpath(os.path.join(coll_root, path))
                if not file.startswith(os.path.normpath(coll_root) + os.sep):
                    warn(f"{coll_root}: artifact path {path!r} leaves the collection, left out")
                    continue
                if verify:
                    try:
                        actual = sha256_file(file)
                    except OSError as e:
                        warn(f"{file}: unreadable, left out ({e.strerror})")
                        continue
                    if actual != a.get("stored_sha256"):
                        warn(f"{file}: SHA-256 does not match the manifest, left out")
                        continue
                rows.append((kind, file, case_id, host_id, collection_id))
    return rows


# ---------------------------------------------------------------------------------------------
# Engine


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def connect(tables, files):
    """A DuckDB connection with one view per table over the given record files."""
    try:
        import duckdb
    except ImportError as e:
        raise HuntError("the local engine needs DuckDB: pip install duckdb") from e
    con = duckdb.connect(":memory:")
    for stmt in TRINO_COMPAT:
        con.execute(stmt)
    con.execute(
        "CREATE TABLE vestige_files (table_name VARCHAR, filename VARCHAR, case_id VARCHAR,"
        " host_id VARCHAR, collection_id VARCHAR)"
    )
    if files:
        con.executemany("INSERT INTO vestige_files VALUES (?, ?, ?, ?, ?)", files)
    for table, columns in tables.items():
        paths = [f for (t, f, *_rest) in files if t == table]
        if paths:
            spec = "{" + ", ".join(
                f"{sql_literal(c)}: {sql_literal(duckdb_type(t))}" for c, t in columns
            ) + "}"
            source = (
                f"read_json({sql_list(paths)}, format='newline_delimited', compression='zstd',"
                f" columns={spec}, filename=true, maximum_object_size=67108864)"
            )
            con.execute(
                f"CREATE VIEW {quote_ident(table)} AS SELECT {', '.join('r.' + quote_ident(c) for c, _ in columns)},"
                f" f.case_id, f.host_id, f.collection_id FROM {source} r"
                f" JOIN vestige_files f ON f.filename = r.filename AND f.table_name = {sql_literal(table)}"
            )
        else:
            typed = ", ".join(
                f"CAST(NULL AS {duckdb_type(t)}) AS {quote_ident(c)}" for c, t in columns
            )
            con.execute(
                f"CREATE VIEW {quote_ident(table)} AS SELECT {typed}, CAST(NULL AS VARCHAR) AS case_id,"
                " CAST(NULL AS VARCHAR) AS host_id, CAST(NULL AS VARCHAR) AS collection_id WHERE false"
            )
    return con


def sql_literal(s):
    return "'" + str(s).replace("'", "''") + "'"


def sql_list(items):
    return "[" + ", ".join(sql_literal(i) for i in items) + "]"


def query_params(sql_text):
    """Parameter names from a `-- params: a, b` header line (in placeholder order)."""
    for line in sql_text.splitlines():
        m = re.match(r"\s*--\s*params:\s*(.*)$", line)
        if m:
            return [p.strip() for p in m.group(1).split(",") if p.strip()]
    return []


def strip_comments(sql_text):
    return "\n".join(l for l in sql_text.splitlines() if not l.strip().startswith("--")).strip().rstrip(";")


def run_query(con, sql_text, values):
    names = query_params(sql_text)
    missing = [n for n in names if n not in values]
    if missing:
        raise HuntError("missing --param for: " + ", ".join(missing))
    args = [values[n] for n in names]
    try:
        cur = con.execute(strip_comments(sql_text), args)
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()
    except Exception as e:  # DuckDB raises several error classes; all are query errors here.
        raise HuntError(f"query failed: {e}") from e


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def print_table(columns, rows, out):
    cells = [[("" if v is None else str(jsonable(v))) for v in r] for r in rows]
    cells = [[c.replace("\n", "\\n") for c in r] for r in cells]
    widths = [len(c) for c in columns]
    for r in cells:
        widths = [min(max(w, len(c)), 80) for w, c in zip(widths, r)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    out.write(fmt.format(*columns) + "\n")
    for r in cells:
        out.write(fmt.format(*[c[:80] for c in r]) + "\n")
    out.write(f"({len(rows)} rows)\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("query", help="SQL file (packaging/hunts/*.sql)")
    ap.add_argument("roots", nargs="+", help="directories holding collections")
    ap.add_argument("--case", help="case_id for every collection (default: each ROOT's name)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--format", choices=("table", "jsonl"), default="table")
    ap.add_argument("--ddl", default=DEFAULT_DDL, help="table definitions (default: %(default)s)")
    ap.add_argument("--no-verify", action="store_true", help="skip the stored SHA-256 check")
    args = ap.parse_args(argv)
    try:
        values = {}
        for p in args.param:
            name, sep, value = p.partition("=")
            if not sep or not name:
                raise HuntError(f"--param {p!r}: expected NAME=VALUE")
            values[name] = value
        with open(args.ddl, encoding="utf-8") as f:
            tables = parse_ddl(f.read())
        with open(args.query, encoding="utf-8") as f:
            sql_text = f.read()
        files = record_files(args.roots, tables, case=args.case, verify=not args.no_verify)
        con = connect(tables, files)
        columns, rows = run_query(con, sql_text, values)
    except (HuntError, OSError) as e:
        print(f"hunt: {e}", file=sys.stderr)
        return 2
    if args.format == "jsonl":
        for r in rows:
            sys.stdout.write(json.dumps(dict(zip(columns, jsonable(list(r))))) + "\n")
    else:
        print_table(columns, rows, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
