"""A stand-in for the two SSM Run Command reads `fleet.py summary` makes, ListCommandInvocations
and GetCommandInvocation, speaking SSM's JSON 1.1 protocol, so that boto3 in fleet.py talks to
it as to SSM (moto 5 has no ListCommandInvocations). Lists two invocations per page, so that
NextToken paging is exercised; logs every request as one JSON line.

Usage: fake_ssm.py CONFIG READY_FILE LOG_FILE
CONFIG: {"command_id": ID, "invocations": [{"list": {...ListCommandInvocations entry...},
         "get": {...GetCommandInvocation response...} | "get_error": "ErrorCode"}]}
READY_FILE receives the port once the server listens."""
import http.server
import json
import os
import sys

config_path, ready, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(config_path, encoding="utf-8") as f:
    CONFIG = json.load(f)
PAGE = 2


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, message):
        self.reply(400, {"__type": code, "message": message})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        op = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"op": op, "body": body}) + "\n")
        if body.get("CommandId") != CONFIG["command_id"]:
            return self.error("InvalidCommandId", "no such command")
        invs = CONFIG["invocations"]
        if op == "ListCommandInvocations":
            start = int(body.get("NextToken") or 0)
            page = {"CommandInvocations": [i["list"] for i in invs[start:start + PAGE]]}
            if start + PAGE < len(invs):
                page["NextToken"] = str(start + PAGE)
            return self.reply(200, page)
        if op == "GetCommandInvocation":
            for i in invs:
                if i["list"]["InstanceId"] == body.get("InstanceId"):
                    if "get_error" in i:
                        return self.error(i["get_error"], "stand-in error")
                    return self.reply(200, i["get"])
            return self.error("InvocationDoesNotExist", "no such invocation")
        return self.error("UnknownOperationException", op)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(ready + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.replace(ready + ".tmp", ready)
server.serve_forever()
