"""Portal test material: a hostile message (every way an HTML mail can try to load from elsewhere or run a
script), a counter of HTTP hits on 127.0.0.1 to point its URLs at, and the portal served by uvicorn."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

#: A 1×1 PNG (the inline image carried in the message).
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
MARKER = "portal-marker-7f3c"


class Hits:
    """An HTTP server on 127.0.0.1 that answers everything and records each path it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        hits = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                hits.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png" if "img" in self.path else "text/plain")
                self.end_headers()
                self.wfile.write(PNG if "img" in self.path else b"hit")

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[Hits]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def hostile_html(origin: str) -> str:
    """HTML that tries each EFAIL-style channel against ``origin`` and each way to run a script."""
    return f"""<!doctype html><html><head>
<meta http-equiv="refresh" content="0; url={origin}/meta-refresh">
<base href="{origin}/base/">
<link rel="stylesheet" href="{origin}/link-css">
<style>body {{ background: url({origin}/style-url); }} @import url({origin}/style-import);</style>
<script src="{origin}/script-src"></script>
</head><body background="{origin}/body-background">
<h2>{MARKER} quarterly figures</h2>
<p style="background-image: url({origin}/inline-style)">Remote image: <img src="{origin}/img-remote" alt="remote"></p>
<img srcset="{origin}/img-srcset 2x" alt="srcset"><img src="relative-img" alt="relative">
<img src="x" onerror="document.title='pwned'; window.pwned = 1; fetch('{origin}/onerror')">
<picture><source srcset="{origin}/img-picture"><img alt="picture"></picture>
<table background="{origin}/table-background"><tr><td background="{origin}/td-background">cell</td></tr></table>
<video poster="{origin}/video-poster" src="{origin}/video-src"></video><audio src="{origin}/audio-src"></audio>
<iframe src="{origin}/iframe"></iframe><object data="{origin}/object"></object><embed src="{origin}/embed">
<svg><image href="{origin}/svg-image"/></svg>
<form action="{origin}/form" method="post"><input name="secret" value="x"><input type="image" src="{origin}/input-image">
<button type="submit">Send</button></form>
<script>document.title = 'pwned'; window.pwned = 1; new Image().src = '{origin}/script-inline';</script>
<a href="{origin}/link-click">a link (only a click would follow it)</a>
<img src="cid:logo@example.org" alt="inline logo">
</body></html>"""


def hostile_message(origin: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = "bob@outside.example"
    msg["Subject"] = "Figures"
    msg["Message-ID"] = "<hostile@example.org>"
    msg.set_content(f"{MARKER} quarterly figures (text part)")
    msg.add_alternative(hostile_html(origin), subtype="html")
    html = msg.get_payload()[1]
    html.add_related(PNG, "image", "png", cid="<logo@example.org>")
    msg.add_attachment(b"col1,col2\n1,2\n", maintype="text", subtype="csv", filename="figures.csv")
    msg.add_attachment(b"<html><script>alert(1)</script></html>", maintype="text", subtype="html",
                       filename="../../evil.html")
    return msg.as_bytes()
