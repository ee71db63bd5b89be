#!/usr/bin/env python3
"""An HTTP server that records every request, for the notification receivers' tests.

Each request (method, path, query, headers, body) is kept in memory and answered 200
with `{"ok": true}`, except:

- `/fail-N/...` answers 503 to the first N requests for that exact path, then 200
  (a receiver that recovers: retries must get through);
- `/status-CODE/...` always answers CODE (a receiver that refuses: no retry).

`GET /__requests` returns the recorded requests as JSON (optionally `?prefix=/path` to
keep only paths starting with it); `DELETE /__requests` forgets them and the failure
counters. Tests share one recorder and keep apart by using their own path prefix.

With `--tls CERT KEY` it speaks HTTPS with that certificate and key (PEM), so that the
receivers' certificate checks and `ca_file` meet a real TLS server.

Usage: http_recorder.py PORT_FILE [--tls CERT KEY]
       (binds 127.0.0.1 on a free port and writes it there)
"""

import argparse
import base64
import json
import re
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
REQUESTS = []
SEEN_BY_PATH = {}
FAIL = re.compile(r"^/fail-(\d+)/")
STATUS = re.compile(r"^/status-(\d{3})/")


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the tests read /__requests
        pass

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/__requests":
            if self.command == "DELETE":
                with LOCK:
                    REQUESTS.clear()
                    SEEN_BY_PATH.clear()
                return self.answer(200, {"ok": True})
            prefix = parse_qs(url.query).get("prefix", [""])[0]
            with LOCK:
                kept = [r for r in REQUESTS if r["path"].startswith(prefix)]
            return self.answer(200, kept)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        record = {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            # Lower-case names: HTTP header names are case-insensitive.
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": text,
            "body_base64": base64.b64encode(body).decode(),
        }
        with LOCK:
            REQUESTS.append(record)
            seen = SEEN_BY_PATH.get(url.path, 0)
            SEEN_BY_PATH[url.path] = seen + 1
        fail = FAIL.match(url.path)
        if fail and seen < int(fail.group(1)):
            return self.answer(503, {"error": "failing on purpose", "attempt": seen + 1})
        status = STATUS.match(url.path)
        if status:
            return self.answer(int(status.group(1)), {"error": "status on purpose"})
        return self.answer(200, {"ok": True})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class TlsServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client refusing the certificate (the tests' unknown-CA case) is expected: one
        # line in the log, not a traceback.
        print(f"{client_address}: {sys.exc_info()[1]}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    arguments = parser.parse_args()
    if arguments.tls is None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    else:
        server = TlsServer(("127.0.0.1", 0), Recorder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*arguments.tls)
        # The handshake happens at the first read, in the request's own thread: done in
        # accept() it would hold up every other connection while one client stalls.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    server.daemon_threads = True
    with open(arguments.port_file, "w") as port_file:
        port_file.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
