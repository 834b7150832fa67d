"""Fixtures for the browser tests: the running usero server, a host page on another origin, headless Chromium.

scripts/browser-tests.sh starts `usero serve` and exports USERO_BASE_URL, USERO_CLIENT_ID and USERO_ADMIN_KEY.
"""

import http.server
import os
import pathlib
import shutil
import struct
import threading
import zlib

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

@pytest.fixture(scope="session")
def usero():
    """Where the server is and which client the tests use."""
    missing = [name for name in ("USERO_BASE_URL", "USERO_CLIENT_ID", "USERO_ADMIN_KEY") if not os.environ.get(name)]
    if missing:
        pytest.fail("run these tests through scripts/browser-tests.sh (missing " + ", ".join(missing) + ")")
    base = os.environ["USERO_BASE_URL"].rstrip("/")
    assert requests.get(base + "/healthz", timeout=10).status_code == 200
    return {"base": base, "client_id": os.environ["USERO_CLIENT_ID"], "admin_key": os.environ["USERO_ADMIN_KEY"]}


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Checkout</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  /* A hostile stylesheet: the widget lives in a shadow root, so none of this may reach it. */
  body {{ margin: 0; font-family: Georgia, serif; background: #fbfaf7; color: #222; }}
  button {{ display: none !important; }}
  * {{ font-size: 40px !important; color: lime !important; }}
  header {{ background: #0f3d3e; padding: 16px 32px; }}
  header, header * {{ color: #fff !important; font-size: 20px !important; font-weight: bold; }}
  main {{ max-width: 760px; margin: 24px auto; padding: 0 24px; }}
  main p, main h1 {{ color: #222 !important; font-size: 17px !important; line-height: 1.6; }}
  main h1 {{ font-size: 28px !important; }}
</style></head>
<body>
<header>Acme Checkout</header>
<main><h1>Your cart</h1><p>Two items, ready to ship. Something not right? Tell us with the feedback button.</p></main>
<script src="{base}/widget.js"></script>
<script>
  window.__events = [];
  initUseroFeedbackWidget({{
    clientId: "{client_id}",
    title: "Tell Acme what you think",
    metadata: {{ plan: "pro", build: 1842 }},
    getUser: function () {{ return {{ id: "user-42" }}; }},
    onOpen: function () {{ window.__events.push("open"); }},
    onClose: function () {{ window.__events.push("close"); }},
    onSubmit: function (data) {{ window.__events.push("submit:" + data.feedbackId); }},
    onError: function (error) {{ window.__events.push("error:" + error.message); }}
  }});
</script>
</body></html>
"""


@pytest.fixture(scope="session")
def host_page(usero):
    """A customer's page on another origin (its own port) that embeds the widget from the usero server."""
    html = HOST_PAGE.format(base=usero["base"], client_id=usero["client_id"]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/checkout" % server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="session")
def pages():
    """A customer's site of several pages on its own origin: pages.add(path, body, content_type, headers) serves
    body at path (with those response headers) and returns its address."""

    class Site:
        def __init__(self):
            self.routes = {}
            site = self

            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):  # noqa: N802 (http.server's naming)
                    route = site.routes.get(self.path.split("?")[0])
                    if route is None:
                        self.send_error(404)
                        return
                    body, content_type, headers = route
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *args):
                    pass

            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
            self.origin = "http://127.0.0.1:%d" % self.server.server_address[1]

        def add(self, path, body, content_type="text/html; charset=utf-8", headers=None):
            self.routes[path] = (body.encode(), content_type, headers or {})
            return self.origin + path

    site = Site()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="session")
def driver():
    """Debian's headless Chromium through Debian's chromedriver (no downloads)."""
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,860", "--force-prefers-reduced-motion", "--lang=en-US"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    browser = webdriver.Chrome(options=options, service=service)
    browser.implicitly_wait(0)
    yield browser
    browser.quit()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory):
    """Where the tests save inbox.png and widget.png: a temporary folder, unless USERO_SCREENSHOT_DIR names one
    (`USERO_SCREENSHOT_DIR=docs/screenshots scripts/browser-tests.sh` refreshes the README's pictures)."""
    configured = os.environ.get("USERO_SCREENSHOT_DIR")
    path = pathlib.Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_png(path, width=96, height=64):
    """A small gradient PNG, written with the standard library only."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 200)) for x in range(width))
        for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path
