"""A tiny HTTPS server for the sandbox's liste blanche (stdlib ``http.server`` + ``ssl``).

Why: stands in for the ANS web server that publishes the liste blanche, with what a caching
client relies on: ``ETag`` / ``Last-Modified`` and conditional GET answered by 304. The file is
re-read on each request, so rewriting it simulates a new publication. Run as a separate
process by the sandbox: ``python -m mssante_client.sandbox.whitelist_server ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import hashlib
import ssl
import sys
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["PATH", "main", "make_server"]

#: URL path of the list (same file name as the ANS publication).
PATH = "/listeblanchemssante.xml"


def _handler(file: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mssante-sandbox-whitelist"
        sys_version = ""
        timeout = 10  # seconds per connection (also bounds the TLS handshake)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, *, body: bool) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            data = file.read_bytes()
            mtime = int(file.stat().st_mtime)
            etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            last_modified = email.utils.formatdate(mtime, usegmt=True)
            if self._not_modified(etag, mtime):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", last_modified)
                self.end_headers()
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.send_header("Cache-Control", "max-age=0, must-revalidate")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _not_modified(self, etag: str, mtime: int) -> bool:
            inm = self.headers.get("If-None-Match")
            if inm is not None:  # RFC 9110 §13.1.2: If-None-Match wins over If-Modified-Since
                tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
                return "*" in tags or etag in tags
            ims = self.headers.get("If-Modified-Since")
            if ims:
                try:
                    since = email.utils.parsedate_to_datetime(ims)
                except (TypeError, ValueError):
                    return False
                return mtime <= since.timestamp()
            return False

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"whitelist: {self.address_string()} {format % args}\n")

    return Handler


def make_server(host: str, port: int, file: Path, cert: Path, key: Path) -> ThreadingHTTPServer:
    """An HTTPS server (TLS ≥ 1.2) bound to ``host:port`` serving ``file`` at :data:`PATH`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer((host, port), _handler(file))
    server.daemon_threads = True
    # the handshake happens in the connection's own thread (first read), not in accept():
    # a client that connects and stays silent cannot stall the server
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.file, args.cert, args.key)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server quietly
            server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
