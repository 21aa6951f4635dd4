#!/usr/bin/env python3
"""Checks packaging/athena/tables.sql and packaging/hunts/*.sql with an independent SQL parser.

1. The rendered DDL parses as Athena DDL (sqlglot), and each table's columns, as that parser
   reads them, are exactly the columns the local engine (hunt.py) reads from the same file;
   every table is partitioned by case_id, host_id, collection_id, reads symlink manifests
   through the JSON SerDe, and lives at INDEX_LOCATION/<table>/.
2. The local engine's DuckDB views have the same columns, in the same order, plus the
   partition columns.
3. Every hunt parses as Athena SQL, and every column it names resolves against that schema.

Prints one line per check; exits non-zero on the first failure.
"""

import glob
import os
import sys

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "packaging", "hunts"))
import hunt  # noqa: E402

PARTITIONS = ["case_id", "host_id", "collection_id"]


def norm_type(t):
    return "".join(t.lower().split())


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def main():
    with open(os.path.join(REPO, "packaging", "athena", "tables.sql"), encoding="utf-8") as f:
        template = f.read()
    engine_tables = hunt.parse_ddl(template)
    rendered = template.replace("${DATABASE}", "vestige").replace(
        "${INDEX_LOCATION}", "s3://analysis-bucket/vestige-index/"
    )
    statements = sqlglot.parse(rendered, read="athena")
    parsed = {}
    for stmt in statements:
        if not isinstance(stmt, exp.Create) or str(stmt.args.get("kind", "")).upper() != "TABLE":
            continue
        schema = stmt.this
        name = schema.this.name
        cols = [(c.name, norm_type(c.args["kind"].sql(dialect="hive"))) for c in schema.expressions]
        props = stmt.args.get("properties")
        text = stmt.sql(dialect="athena")
        part = props.find(exp.PartitionedByProperty) if props else None
        part_cols = [c.name for c in part.this.expressions] if part else []
        if part_cols != PARTITIONS:
            fail(f"{name}: partitioned by {part_cols}, expected {PARTITIONS}")
        for needle in (
            "org.openx.data.jsonserde.JsonSerDe",
            "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
            f"LOCATION 's3://analysis-bucket/vestige-index/{name}/'",
        ):
            if needle not in text:
                fail(f"{name}: {needle!r} not in the parsed statement")
        parsed[name] = cols
    if sorted(parsed) != sorted(engine_tables):
        fail(f"tables differ: parser {sorted(parsed)} vs engine {sorted(engine_tables)}")
    for name, cols in engine_tables.items():
        mine = [(c, norm_type(t)) for c, t in cols]
        if mine != parsed[name]:
            fail(f"{name}: engine columns {mine} != parser columns {parsed[name]}")
        print(f"ok ddl {name}: {len(cols)} columns")

    # The engine's views, built with no collections at all, expose the same columns.
    con = hunt.connect(engine_tables, [])
    for name, cols in engine_tables.items():
        got = [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
        want = [c for c, _ in cols] + PARTITIONS
        if got != want:
            fail(f"view {name}: {got} != {want}")
    print(f"ok engine views: {len(engine_tables)}")

    # Every hunt parses as Athena SQL and names only columns of this schema.
    schema = {
        "vestige": {
            name: {**{c: t for c, t in cols}, **{p: "string" for p in PARTITIONS}}
            for name, cols in engine_tables.items()
        }
    }
    hunts = sorted(glob.glob(os.path.join(REPO, "packaging", "hunts", "*.sql")))
    if not hunts:
        fail("no hunts")
    for path in hunts:
        with open(path, encoding="utf-8") as f:
            sql = hunt.strip_comments(f.read())
        try:
            tree = sqlglot.parse_one(sql, read="athena")
            qualify(tree, schema=schema, db="vestige", dialect="athena",
                    validate_qualify_columns=True)
        except Exception as e:  # sqlglot's ParseError / OptimizeError
            fail(f"{os.path.basename(path)}: {e}")
        print(f"ok hunt {os.path.basename(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
