"""A small FHIR server for tests: answers GET [base]/metadata with a CapabilityStatement, 404 elsewhere.

Run as: python fhir_stub.py ADDRESS PORT BASE   (e.g. 127.0.0.1 8089 /fhir)
Records every request line on stdout, so a test can check the probe only read.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDRESS, PORT, BASE = sys.argv[1], int(sys.argv[2]), sys.argv[3].rstrip("/")
CAPABILITY = {
    "resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
    "software": {"name": "HAPI FHIR Server", "version": "6.4.0"},
    "implementation": {"description": "Test EMR FHIR endpoint", "url": f"http://{ADDRESS}:{PORT}{BASE}"},
    "format": ["application/fhir+json"],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "Jetty(9.4.50.v20221201)"

    def do_GET(self):
        print(f"{self.command} {self.path} {self.headers.get('User-Agent')}", flush=True)
        if self.path == f"{BASE}/metadata":
            body = json.dumps(CAPABILITY).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
        else:
            body = b"<html><head><title>EMR portal</title></head><body>FHIR endpoint at /fhir</body></html>"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self):
        print(f"{self.command} {self.path} {self.headers.get('User-Agent')}", flush=True)
        self.send_response(200)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):  # a probe must never write: make any attempt visible
        print(f"{self.command} {self.path} {self.headers.get('User-Agent')}", flush=True)
        self.send_response(405)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer((ADDRESS, PORT), Handler).serve_forever()
