"""A fake OpenAI-compatible chat endpoint on 127.0.0.1 for the annotation tests (stage 2 through HTTP).

Each test module subclasses ``FakeChatHandler`` with its own ``do_POST`` (what it answers is the test) and runs it
with ``serve``; the plumbing they share (reading the request, the chat-completions envelope, the response headers,
the server thread and its shutdown) lives here once.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


def chat_payload(content: str) -> bytes:
    """The body of a chat-completions reply whose assistant message is ``content``."""
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


def quoted_transcript(body: dict) -> str | None:
    """The transcript the synthesis prompt quotes in ``<transcript>...</transcript>`` (None when it quotes none)."""
    found = re.search(r"<transcript>(.*?)</transcript>", body["messages"][-1]["content"], re.S)
    return found.group(1) if found else None


class FakeChatHandler(BaseHTTPRequestHandler):
    """A quiet request handler with helpers; subclasses define ``do_POST``."""

    def log_message(self, *args):  # keep the test output quiet
        pass

    def read_json(self) -> dict:
        """The request body, parsed."""
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send_json(self, payload: bytes) -> None:
        """A 200 reply with ``payload`` (bytes as given, so a test can send JSON that ``json.dumps`` cannot make)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_status(self, code: int, headers: dict[str, str] | None = None) -> None:
        """A reply with status ``code``, the given headers and no body."""
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a free port of 127.0.0.1 in a daemon thread; yields the endpoint's base URL (``.../v1``)
    and shuts the server down afterwards."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
