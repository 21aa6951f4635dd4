"""A tiny IMDSv2 stand-in for tests: PUT /latest/api/token issues a token, GETs need it.
Serves the instance identity document for INSTANCE_ID.
Usage: fake_imds.py ADDR PORT INSTANCE_ID READY_FILE"""
import http.server
import json
import sys

addr, port, instance_id, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
TOKEN = "vestige-test-token"
DOC = json.dumps({
    "accountId": "123456789012",
    "architecture": "x86_64",
    "availabilityZone": "us-east-1a",
    "imageId": "ami-0123456789abcdef0",
    "instanceId": instance_id,
    "instanceType": "m7i.large",
    "privateIp": "10.0.0.10",
    "region": "us-east-1",
    "version": "2017-09-30",
})


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body=""):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, TOKEN)
        else:
            self.reply(400)

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self.reply(401)
        elif self.path == "/latest/dynamic/instance-identity/document":
            self.reply(200, DOC)
        else:
            self.reply(404)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer((addr, port), Handler)
open(ready, "w").close()
server.serve_forever()
