#!/usr/bin/env python3
"""Collect from many instances at once through SSM Run Command, and gather the results.

    fleet.py collect --bucket B --case CASE (--tag KEY=VALUE ... | --resource-group NAME |
                     --instance-ids i-1,i-2) [--max-concurrency 10%] [--max-errors 10%]
                     [--prefix evidence] [--profile triage] [--execution-timeout 600]
                     [--document vestige-collect] [--output-s3 s3://BUCKET/PREFIX] [--dry-run]
    fleet.py summary COMMAND_ID [--format table|jsonl|csv]
    fleet.py summary --from-json FILE          (saved GetCommandInvocation responses)

`collect` sends the vestige-collect document to every instance the targets select (tags are
ANDed, as SSM does; at most 5 tag targets), paced by SSM's own rate controls: at most
--max-concurrency instances at a time, and SSM stops sending to new instances once
--max-errors invocations have failed. Every instance writes under one case prefix:
s3://BUCKET/PREFIX/CASE/<its aws:userid>/<instance id>/<collection id>/. It prints the command id.

`summary` lists every invocation of that command (ListCommandInvocations) and reads each
instance's stdout (GetCommandInvocation, plugin `collect`): the last line is vestige's summary.
One row per instance: instance, status, exit code, collection location, manifest SHA-256,
artifacts, errors. Instances whose collection did not finish show the status SSM gives
(TimedOut, Undeliverable, Failed, ...) and, when vestige or the document said why, the error.

Needs boto3 and the responder's credentials (ssm:SendCommand on the document and the targets;
ssm:ListCommandInvocations, ssm:GetCommandInvocation). Region and endpoint come from the usual
AWS environment (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL).
Exit status: collect 0 once sent; summary 0 when every instance has a manifest, 1 otherwise,
2 on usage errors.
"""

import argparse
import csv
import json
import os
import re
import sys
import time

CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=:-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.=:-]{0,127}){0,7}$")
RATE_RE = re.compile(r"^([1-9][0-9]{0,3}|[1-9][0-9]?%|100%)$")
ERRORS_RE = re.compile(r"^([0-9]{1,4}|[0-9]{1,2}%|100%)$")
TAG_RE = re.compile(r"^([^=]{1,128})=(.{0,256})$")
GROUP_RE = re.compile(r"^[A-Za-z0-9_.-]{1,300}$")

COLUMNS = ["instance_id", "status", "exit_code", "location", "manifest_sha256", "artifacts",
           "errors", "error"]


class UsageError(Exception):
    pass


def ssm_client():
    try:
        import boto3
    except ImportError:
        raise UsageError("needs boto3 (pip install boto3)")
    # AWS_REGION as the SDKs read it; boto3 itself reads only AWS_DEFAULT_REGION.
    return boto3.client("ssm", region_name=os.environ.get("AWS_REGION") or None)


# ---------------------------------------------------------------------------------------------
# collect


def targets_from(args):
    chosen = [bool(args.tag), args.resource_group is not None, bool(args.instance_ids)]
    if sum(chosen) != 1:
        raise UsageError("choose exactly one of --tag, --resource-group, --instance-ids")
    if args.tag:
        if len(args.tag) > 5:
            raise UsageError("SSM accepts at most 5 tag targets")
        targets = []
        for t in args.tag:
            m = TAG_RE.match(t)
            if not m:
                raise UsageError(f"--tag {t!r}: want KEY=VALUE")
            targets.append({"Key": f"tag:{m.group(1)}", "Values": [m.group(2)]})
        return {"Targets": targets}
    if args.resource_group is not None:
        if not GROUP_RE.match(args.resource_group):
            raise UsageError(f"--resource-group {args.resource_group!r} is not a group name")
        return {"Targets": [{"Key": "resource-groups:Name", "Values": [args.resource_group]}]}
    ids = [i.strip() for i in args.instance_ids.split(",") if i.strip()]
    bad = [i for i in ids if not re.match(r"^(i|mi)-[0-9a-f]{8,17}$", i)]
    if bad or not ids:
        raise UsageError(f"--instance-ids: not instance ids: {bad or ids}")
    return {"InstanceIds": ids}


def send_command_request(args):
    if not BUCKET_RE.match(args.bucket):
        raise UsageError(f"--bucket {args.bucket!r} is not a bucket name")
    if not CASE_RE.match(args.case):
        raise UsageError(f"--case {args.case!r}: letters, digits, '_', '.', '-' (64 at most)")
    if not PREFIX_RE.match(args.prefix):
        raise UsageError(f"--prefix {args.prefix!r} is not a plain key prefix")
    if not RATE_RE.match(args.max_concurrency):
        raise UsageError(f"--max-concurrency {args.max_concurrency!r}: a count or a percentage")
    if not ERRORS_RE.match(args.max_errors):
        raise UsageError(f"--max-errors {args.max_errors!r}: a count or a percentage")
    if not 30 <= args.execution_timeout <= 86400:
        raise UsageError("--execution-timeout: 30 to 86400 seconds (vestige's deadline is 15 s less)")
    if args.profile not in ("triage", "minimal"):
        raise UsageError("--profile: triage or minimal")
    req = {
        "DocumentName": args.document,
        "Comment": f"vestige collect, case {args.case}"[:100],
        "MaxConcurrency": args.max_concurrency,
        "MaxErrors": args.max_errors,
        "TimeoutSeconds": 600,  # to *start* on an instance; the document bounds the run
        "Parameters": {
            "Bucket": [args.bucket],
            "Prefix": [args.prefix],
            "CaseId": [args.case],
            "Profile": [args.profile],
            "ExecutionTimeout": [str(args.execution_timeout)],
        },
        **targets_from(args),
    }
    if args.output_s3:
        m = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.+))?$", args.output_s3)
        if not m:
            raise UsageError("--output-s3: s3://BUCKET[/PREFIX]")
        req["OutputS3BucketName"] = m.group(1)
        if m.group(2):
            req["OutputS3KeyPrefix"] = m.group(2).strip("/")
    return req


def cmd_collect(args):
    req = send_command_request(args)
    if args.dry_run:
        print(json.dumps(req, indent=1, sort_keys=True))
        return 0
    resp = ssm_client().send_command(**req)
    cmd = resp["Command"]
    print(cmd["CommandId"])
    print(
        f"fleet: sent {args.document} for case {args.case} "
        f"(max concurrency {args.max_concurrency}, max errors {args.max_errors}); "
        f"then: fleet.py summary {cmd['CommandId']}",
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------------------------------------
# summary


def summary_line(stdout):
    """vestige's summary (the last non-empty stdout line) as a dict, or None."""
    for line in reversed((stdout or "").splitlines()):
        if line.strip():
            try:
                v = json.loads(line)
            except ValueError:
                return None
            return v if isinstance(v, dict) else None
    return None


def row_from_invocation(inv):
    """One table row from a GetCommandInvocation response (or a ListCommandInvocations entry)."""
    s = summary_line(inv.get("StandardOutputContent")) or {}
    code = inv.get("ResponseCode")
    error = s.get("error")
    if error is None and s.get("interrupted"):
        error = f"interrupted: {s['interrupted']}"
    if error is None and not s and inv.get("Status") not in ("Pending", "InProgress", "Delayed"):
        err = (inv.get("StandardErrorContent") or "").strip().splitlines()
        error = err[-1][:200] if err else (inv.get("StatusDetails") or None)
    return {
        "instance_id": inv.get("InstanceId"),
        "status": inv.get("Status") or inv.get("StatusDetails"),
        "exit_code": code if isinstance(code, int) and code >= 0 else None,
        "location": s.get("location"),
        "manifest_sha256": s.get("manifest_sha256"),
        "artifacts": s.get("artifacts"),
        "errors": s.get("errors"),
        "error": error,
    }


def invocations(ssm, command_id):
    """GetCommandInvocation (plugin `collect`) for every instance the command reached."""
    out = []
    token = None
    while True:
        kw = {"CommandId": command_id}
        if token:
            kw["NextToken"] = token
        page = ssm.list_command_invocations(**kw)
        for inv in page.get("CommandInvocations", []):
            iid = inv["InstanceId"]
            try:
                out.append(ssm.get_command_invocation(
                    CommandId=command_id, InstanceId=iid, PluginName="collect"))
            except ssm.exceptions.InvocationDoesNotExist:
                out.append(inv)  # never started there (e.g. undeliverable): list entry only
            except Exception as e:  # throttling after the SDK's retries, plugin not reached
                entry = dict(inv)
                entry["StatusDetails"] = f"{inv.get('StatusDetails')} ({type(e).__name__})"
                out.append(entry)
        token = page.get("NextToken")
        if not token:
            return out
        time.sleep(0.2)


def print_rows(rows, fmt, out):
    if fmt == "jsonl":
        for r in rows:
            out.write(json.dumps(r) + "\n")
        return
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
        return
    cells = [[("" if r[c] is None else str(r[c])) for c in COLUMNS] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(COLUMNS)]
    fmt_line = "  ".join("{:<%d}" % w for w in widths)
    out.write(fmt_line.format(*COLUMNS).rstrip() + "\n")
    for row in cells:
        out.write(fmt_line.format(*row).rstrip() + "\n")
    done = sum(1 for r in rows if r["manifest_sha256"])
    out.write(f"({len(rows)} instances, {done} with a manifest)\n")


def cmd_summary(args):
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            data = json.load(f)
        invs = data.get("CommandInvocations", data) if isinstance(data, dict) else data
    else:
        if not args.command_id or not re.match(r"^[0-9a-f-]{36}$", args.command_id):
            raise UsageError("give a COMMAND_ID (36 characters) or --from-json FILE")
        invs = invocations(ssm_client(), args.command_id)
    rows = sorted((row_from_invocation(i) for i in invs), key=lambda r: r["instance_id"] or "")
    print_rows(rows, args.format, sys.stdout)
    return 0 if rows and all(r["manifest_sha256"] for r in rows) else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="send the collect document to a fleet")
    c.add_argument("--bucket", required=True)
    c.add_argument("--case", required=True)
    c.add_argument("--prefix", default="evidence")
    c.add_argument("--profile", default="triage")
    c.add_argument("--execution-timeout", type=int, default=600)
    c.add_argument("--document", default="vestige-collect")
    c.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--resource-group")
    c.add_argument("--instance-ids")
    c.add_argument("--max-concurrency", default="10%")
    c.add_argument("--max-errors", default="10%")
    c.add_argument("--output-s3", help="also keep full command output in s3://BUCKET/PREFIX")
    c.add_argument("--dry-run", action="store_true", help="print the request, send nothing")
    s = sub.add_parser("summary", help="one row per instance of a fleet collection")
    s.add_argument("command_id", nargs="?")
    s.add_argument("--from-json", help="saved GetCommandInvocation responses (a JSON list)")
    s.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    args = ap.parse_args(argv)
    try:
        return cmd_collect(args) if args.cmd == "collect" else cmd_summary(args)
    except UsageError as e:
        print(f"fleet: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
