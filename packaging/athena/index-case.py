#!/usr/bin/env python3
"""Make a case's collections queryable in Athena.

    index-case.py ddl   --database DB --index s3://ANALYSIS-BUCKET/PREFIX/
    index-case.py index --evidence s3://EVIDENCE-BUCKET/PREFIX/CASE --index s3://ANALYSIS-BUCKET/PREFIX/
                        [--case CASE] [--database DB] [--endpoint-url URL]

`ddl` prints packaging/athena/tables.sql for that database and index location: run it once in
Athena (one statement at a time, or with `aws athena start-query-execution` per statement).

`index` finds every collection below the evidence prefix (each `manifest.json`), and for each
record artifact the manifest lists as ok or partial writes one symlink manifest

    INDEX/<table>/case_id=<case>/host_id=<host>/collection_id=<collection>/symlink.txt

holding the artifact's s3:// URI. It prints the `ALTER TABLE ... ADD IF NOT EXISTS PARTITION`
statements that register the new partitions (or run `MSCK REPAIR TABLE <table>` in Athena).
Nothing is written to the evidence bucket: the index lives in an analysis bucket, so the
evidence stays write-once. Needs s3:ListBucket and s3:GetObject on the evidence prefix and
s3:PutObject on the index prefix (the responder role, not the instances' role).

A manifest is indexed only if its collection_id is the name of the folder that holds it, and
ids are plain (letters, digits, `.`, `_`, `-`); anything else is reported and left out.
Encrypted record artifacts (`.age`) cannot be read by Athena and are skipped with a note.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES_SQL = os.path.join(HERE, "tables.sql")
TABLE_RE = re.compile(r"CREATE\s+EXTERNAL\s+TABLE\s+IF\s+NOT\s+EXISTS\s+`\$\{DATABASE\}`\.`(\w+)`")
PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def split_s3(uri, what):
    m = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$", uri)
    if not m:
        raise SystemExit(f"index-case: {what} must be s3://BUCKET[/PREFIX], not {uri!r}")
    return m.group(1), (m.group(2) or "").strip("/")


def index_location(uri):
    bucket, prefix = split_s3(uri, "--index")
    return f"s3://{bucket}/" + (prefix + "/" if prefix else "")


def render_ddl(database, location):
    if not re.match(r"^[a-z_][a-z0-9_]{0,127}$", database):
        raise SystemExit(f"index-case: --database {database!r}: lowercase letters, digits, _")
    with open(TABLES_SQL, encoding="utf-8") as f:
        text = f.read()
    return text.replace("${DATABASE}", database).replace("${INDEX_LOCATION}", location)


def tables():
    with open(TABLES_SQL, encoding="utf-8") as f:
        return TABLE_RE.findall(f.read())


def s3_client(endpoint_url):
    try:
        import boto3
    except ImportError:
        raise SystemExit("index-case: needs boto3 (pip install boto3)")
    return boto3.client(
        "s3", endpoint_url=endpoint_url or None, region_name=os.environ.get("AWS_REGION") or None
    )


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def index(args):
    known = set(tables())
    ev_bucket, ev_prefix = split_s3(args.evidence, "--evidence")
    idx_bucket, idx_prefix = split_s3(args.index, "--index")
    case_id = args.case or (ev_prefix.rsplit("/", 1)[-1] if ev_prefix else "")
    if not PLAIN_ID.match(case_id):
        raise SystemExit(f"index-case: case id {case_id!r} is not plain; pass --case")
    s3 = s3_client(args.endpoint_url)
    paginator = s3.get_paginator("list_objects_v2")
    list_prefix = ev_prefix + "/" if ev_prefix else ""
    statements, problems, collections = [], 0, 0
    for page in paginator.paginate(Bucket=ev_bucket, Prefix=list_prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith("/manifest.json"):
                continue
            root = key[: -len("/manifest.json")]
            try:
                body = s3.get_object(Bucket=ev_bucket, Key=key)["Body"].read()
                manifest = json.loads(body)
                host_id = str(manifest["host_id"])
                collection_id = str(manifest["collection_id"])
                artifacts = list(manifest["artifacts"])
            except Exception as e:  # unreadable or malformed manifest: report, go on
                print(f"index-case: s3://{ev_bucket}/{key}: left out ({e})", file=sys.stderr)
                problems += 1
                continue
            if root.rsplit("/", 1)[-1] != collection_id or not (
                PLAIN_ID.match(host_id) and PLAIN_ID.match(collection_id)
            ):
                print(
                    f"index-case: s3://{ev_bucket}/{key}: host {host_id!r} / collection "
                    f"{collection_id!r} do not match its location; left out",
                    file=sys.stderr,
                )
                problems += 1
                continue
            collections += 1
            for a in artifacts:
                if not isinstance(a, dict):
                    continue
                table, path = a.get("kind"), a.get("path")
                if table not in known or a.get("status") not in ("ok", "partial") or not path:
                    continue
                if not path.endswith(".jsonl.zst"):
                    if ".jsonl" in path:
                        print(f"index-case: {root}/{path}: not plain zstd JSONL, skipped",
                              file=sys.stderr)
                    continue
                part = f"case_id={case_id}/host_id={host_id}/collection_id={collection_id}"
                link_key = "/".join(p for p in (idx_prefix, table, part, "symlink.txt") if p)
                target = f"s3://{ev_bucket}/{root}/{path}\n"
                s3.put_object(Bucket=idx_bucket, Key=link_key, Body=target.encode())
                location = f"s3://{idx_bucket}/" + link_key[: -len("symlink.txt")]
                statements.append(
                    f"ALTER TABLE `{args.database}`.`{table}` ADD IF NOT EXISTS PARTITION "
                    f"(case_id = {sql_str(case_id)}, host_id = {sql_str(host_id)}, "
                    f"collection_id = {sql_str(collection_id)}) LOCATION {sql_str(location)};"
                )
    for s in statements:
        print(s)
    print(
        f"index-case: {collections} collections, {len(statements)} record artifacts indexed, "
        f"{problems} left out",
        file=sys.stderr,
    )
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("ddl", help="print the table definitions")
    d.add_argument("--database", default="vestige")
    d.add_argument("--index", required=True, help="s3:// location of the symlink index")
    i = sub.add_parser("index", help="index a case's collections")
    i.add_argument("--evidence", required=True, help="s3://EVIDENCE-BUCKET/PREFIX/CASE")
    i.add_argument("--index", required=True, help="s3://ANALYSIS-BUCKET/PREFIX")
    i.add_argument("--case", help="case id (default: the last segment of --evidence)")
    i.add_argument("--database", default="vestige")
    i.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    args = ap.parse_args()
    if args.cmd == "ddl":
        sys.stdout.write(render_ddl(args.database, index_location(args.index)))
        return 0
    return index(args)


if __name__ == "__main__":
    sys.exit(main())
