"""Browser mode: the window's page and API served over HTTP on 127.0.0.1, for a machine with no display.

Only this machine can connect (the socket is bound to 127.0.0.1), but any web
page open in the user's browser could still try to talk to it, so:
- every API call must carry the run's random secret in the `X-JobMatcher-Secret`
  header (the page gets it from the URL fragment, which browsers never send to
  servers; a custom header also means a foreign page cannot send it without a
  CORS preflight, which is never answered);
- every request must name us in `Host` (127.0.0.1:PORT or localhost:PORT), which
  defeats DNS rebinding, and any `Origin` it carries must be ours;
- only files under frontend/ are served, resolved and checked to stay inside it.
API calls are `POST /api/<method>` with a JSON body `{"args": [...]}`, answered
with the same {"ok", "value" | "error"} envelope the window gets.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from .jsontext import escape_surrogates
from .pageerror import to_page_error

log = logging.getLogger(__name__)

SECRET_HEADER = "X-JobMatcher-Secret"
MAX_JSON_BODY = 1 << 20
MAX_UPLOAD = 64 << 30
# The shape of a call's name in /api/NAME: any public method of the API (api.PUBLIC_METHODS, which a test
# holds to this shape: names like add_s3_location have digits); _dispatch then admits only those methods.
_METHOD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,60}\Z")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,100}\Z")
_NONCE = re.compile(r"^[0-9a-f]{32}\Z")


def hello_proof(secret: str, nonce: str, instance: str) -> str:
    """HMAC-SHA256 (hex) of "jobmatcher-hello:NONCE:INSTANCE" keyed with the secret: what /hello answers."""
    return hmac.new(secret.encode(), f"jobmatcher-hello:{nonce}:{instance}".encode(), "sha256").hexdigest()


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class AppServer(ThreadingHTTPServer):
    """One browser-mode server: the API object, the frontend folder and the run's secret."""

    daemon_threads = True
    allow_reuse_address = True  # a restarted app must get the same port back at once
    request_queue_size = 64  # the page's calls wait here while a restart replaces the process
    # Any local process can connect without the secret. Each connection holds a thread and a file
    # descriptor, so idle ones must not pile up until accept() fails (EMFILE) and the page's own calls
    # go unanswered: at most this many are served at once (each idle one is dropped after
    # _Handler.timeout seconds); more wait in the kernel's backlog.
    max_connections = 128
    # How long a new connection waits for a free slot before it is closed unserved. Meanwhile the
    # accept loop waits too, so the kernel's backlog holds the rest: the page's calls are late, not lost.
    slot_wait = 10.0

    def __init__(
        self,
        api,
        frontend: Path,
        secret: str,
        port: int = 0,
        listening: socket.socket | None = None,
    ) -> None:
        """Serve on 127.0.0.1:`port` (0: any free port), or on `listening`.

        `listening` is a socket handed over by our previous self (a restart in place).
        """
        self.api = api
        self.frontend = Path(frontend).resolve()
        self.secret = secret
        if listening is None:
            super().__init__(("127.0.0.1", port), _Handler)
        else:
            super().__init__(listening.getsockname()[:2], _Handler, bind_and_activate=False)
            self.socket.close()
            self.socket = listening
            self.server_address = listening.getsockname()[:2]
            if self.server_address[0] != "127.0.0.1":
                raise OSError(f"the inherited socket is bound to {self.server_address[0]!r}, not 127.0.0.1")
            self.socket.listen(self.request_queue_size)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.port = self.server_address[1]
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.allowed_origins = {f"http://{h}" for h in self.allowed_hosts}

    def process_request(self, request, client_address) -> None:
        """Serve a connection on its own thread once one of `max_connections` slots is free.

        A connection that finds no slot within `slot_wait` seconds is closed unserved. The slot is freed
        by the thread when it ends, or here when no thread could be started. Not here on an interrupt
        (KeyboardInterrupt, a BaseException): Thread.start waits for the new thread to run, so an interrupt
        landing in that wait comes after the thread started, which frees the slot itself (one landing before
        the start leaves a slot taken, of a server that is ending anyway). Freeing it twice
        raised ValueError in place of the interrupt, which socketserver logged as a failed request and
        served on: Ctrl+C did nothing (seen in CI under load).
        """
        if not self._slots.acquire(timeout=self.slot_wait):
            log.warning("more than %d connections at once: closing one from %s", self.max_connections, client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # no thread could be started ("can't start new thread")
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        """socketserver prints a traceback to stderr here (stdout carries the URL); ours goes to the log file."""
        log.exception("request from %s failed", client_address)

    @property
    def url(self) -> str:
        """The address to open; the secret rides in the fragment, which is never sent over HTTP."""
        return f"http://127.0.0.1:{self.port}/#secret={quote(self.secret)}"


def content_disposition(filename: str) -> str:
    """A `Content-Disposition: attachment` value for `filename`, safe whatever the name holds.

    The name can come from a file someone dropped into the backup folder, so it may hold quotes,
    backslashes, CR/LF (which would end the header and start one of the sender's choosing) or other
    control characters. RFC 6266 section 4.3: an ASCII `filename` fallback with those replaced by
    `_`, and the exact name UTF-8 percent-encoded in `filename*` (RFC 8187), which browsers prefer.
    """
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename) or "backup.db"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class _CountingReader:
    """The request body as the API reads it, counting bytes, so a refused upload's rest can be drained."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self.count = 0

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        self.count += len(data)
        return data

    def drain(self, left: int) -> None:
        try:
            while left > 0:
                data = self._raw.read(min(1 << 20, left))
                if not data:
                    return
                left -= len(data)
        except OSError:
            pass


class _Handler(BaseHTTPRequestHandler):
    server: AppServer
    server_version = "JobMatcher"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection: simple, and plenty for one local user
    # Seconds a socket read may wait for the request line and headers (StreamRequestHandler.setup()
    # applies it): a connection that sends nothing, or stalls, is dropped instead of holding its thread
    # and descriptor for ever. The page sends its whole request at once.
    timeout = 5
    # Then, for the body and the answer: one recv()/send() of a large upload or download on a busy
    # machine may wait this long (it bounds each call, not the whole transfer).
    transfer_timeout = 60

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            self.connection.settimeout(self.transfer_timeout)
        return ok

    _answered = False

    def send_response(self, code, message=None) -> None:
        self._answered = True
        super().send_response(code, message)

    def handle_one_request(self) -> None:
        """http.server's loop step, with a last line of defence: an answer is always sent, never a traceback."""
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the other side went away: nobody to answer
        except Exception as e:  # noqa: BLE001 - a bug or an unnamed failure still gets an answer
            self.close_connection = True
            error = to_page_error(e)
            if not self._answered:
                try:
                    self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "error": error})
                except OSError:
                    pass

    def log_message(self, fmt: str, *args) -> None:  # to the log file, not stderr (stdout carries the URL)
        log.debug("%s " + fmt, self.address_string(), *args)

    # -- routing ---------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._trusted_sender():
            return
        path = urlsplit(self.path).path
        if path.startswith("/download/"):
            self._download(path[len("/download/") :])
        elif path.startswith("/api/") or path == "/upload":
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "Use POST for this address.")
        else:
            self._static(path)

    def do_HEAD(self) -> None:  # noqa: N802
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "Not supported.")

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/hello":  # before the secret: the page checks us before sending it
            if self._trusted_sender():
                self._hello()
            return
        if not self._trusted_sender() or not self._has_secret():
            return
        path = urlsplit(self.path).path
        if path.startswith("/api/"):
            self._api(path[len("/api/") :])
        elif path == "/upload":
            self._upload()
        else:
            self._refuse(HTTPStatus.NOT_FOUND, "Not found.")

    def _other(self) -> None:
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "Not supported.")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other  # noqa: N815 - no CORS preflight is ever granted

    # -- checks -------------------------------------------------------------------------

    def _trusted_sender(self) -> bool:
        """Host must be ours (no DNS rebinding) and Origin, when sent, must be ours (no foreign page)."""
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.server.allowed_hosts:
            self._refuse(HTTPStatus.FORBIDDEN, "This server only answers requests addressed to itself (Host).")
            return False
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in self.server.allowed_origins:
            self._refuse(HTTPStatus.FORBIDDEN, "Requests from other web pages are refused (Origin).")
            return False
        if (self.headers.get("Sec-Fetch-Site") or "same-origin") not in ("same-origin", "none"):
            self._refuse(HTTPStatus.FORBIDDEN, "Requests from other web pages are refused.")
            return False
        return True

    def _has_secret(self) -> bool:
        given = self.headers.get(SECRET_HEADER) or ""
        if not hmac.compare_digest(given.encode(), self.server.secret.encode()):
            self._refuse(
                HTTPStatus.FORBIDDEN,
                "This request lacks the secret of this JobMatcher session.",
                "Open JobMatcher with the address it printed when it started.",
                code="wrong-secret",  # the page words it: a link from an earlier run, not damaged data (G18)
            )
            return False
        return True

    # -- handlers ---------------------------------------------------------------------------

    def _api(self, name: str) -> None:
        if not _METHOD_NAME.match(name):
            self._refuse(
                HTTPStatus.NOT_FOUND,
                "The page asked for something this version of JobMatcher does not have.",
                "Reload the page.",
                code="unknown-call",
            )
            return
        length = self._length(MAX_JSON_BODY)
        if length is None:
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            args = body.get("args", []) if isinstance(body, dict) else None
            if not isinstance(args, list):
                raise ValueError("args must be a list")
        except (ValueError, UnicodeDecodeError):
            self._refuse(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.")
            return
        except RecursionError:
            self._refuse(
                HTTPStatus.BAD_REQUEST,
                "The request body is nested too deeply to read.",
                "Send plain values (JobMatcher's page never nests this deep).",
            )
            return
        self._json(HTTPStatus.OK, self.server.api._dispatch(name, args))

    def _hello(self) -> None:
        """Prove, without sending it, that this server knows the run's secret: HMAC-SHA256 of the page's fresh
        nonce and our instance id. After a restart the page asks this before it sends the secret again, so a
        program that took the port in between learns nothing (see frontend/js/transport.js, verifiedInstance)."""
        length = self._length(1024)
        if length is None:
            return
        try:
            nonce = json.loads(self.rfile.read(length) or b"{}").get("nonce", "")
        except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
            nonce = ""
        if not isinstance(nonce, str) or not _NONCE.match(nonce):
            self._refuse(HTTPStatus.BAD_REQUEST, "Send a fresh nonce: 32 hexadecimal digits.")
            return
        instance = self.server.api._instance
        self._json(
            HTTPStatus.OK,
            {"ok": True, "value": {"instance": instance, "proof": hello_proof(self.server.secret, nonce, instance)}},
        )

    def _upload(self) -> None:
        length = self._length(MAX_UPLOAD)
        if length is None:
            return
        name = unquote(self.headers.get("X-File-Name") or "upload.db")
        body = _CountingReader(self.rfile)
        try:
            value = self.server.api._receive_upload(name, body, length)
        except BaseException as e:  # noqa: BLE001 - reaches the page as a message
            # Read (and drop) the rest of the body first: closing with unread data resets the
            # connection, and the browser would then show a network error instead of this answer.
            body.drain(length - body.count)
            self._json(HTTPStatus.OK, {"ok": False, "error": to_page_error(e)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "value": value})

    def _download(self, token: str) -> None:
        item = self.server.api._take_download(token) if _TOKEN.match(token) else None
        if item is None:
            self._refuse(HTTPStatus.NOT_FOUND, "This download link has expired.", "Click Export… again.")
            return
        path, filename = item
        try:
            f = open(path, "rb")
        except OSError:
            self._refuse(HTTPStatus.NOT_FOUND, "The backup file is gone.", "Reload the page.")
            return
        with f:
            size = path.stat().st_size
            self.send_response(HTTPStatus.OK)
            self._common_headers()
            self.send_header("Content-Type", "application/vnd.sqlite3")
            self.send_header("Content-Length", str(size))
            self.send_header("Content-Disposition", content_disposition(filename))
            self.end_headers()
            while chunk := f.read(1 << 20):
                self.wfile.write(chunk)

    def _static(self, path: str) -> None:
        rel = unquote(path).lstrip("/") or "index.html"
        parts = rel.replace("\\", "/").split("/")
        if "\x00" in rel or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            self._refuse(HTTPStatus.NOT_FOUND, "Not found.")
            return
        root = self.server.frontend
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            self._refuse(HTTPStatus.NOT_FOUND, "Not found.")
            return
        data = target.read_bytes()
        ctype = (
            CONTENT_TYPES.get(target.suffix.lower())
            or mimetypes.guess_type(target.name)[0]
            or "application/octet-stream"
        )
        self.send_response(HTTPStatus.OK)
        self._common_headers()
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- responses ----------------------------------------------------------------------------

    def _length(self, limit: int) -> int | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length > limit else HTTPStatus.BAD_REQUEST,
                "The request is too large or has no valid length.",
            )
            return None
        return length

    def _common_headers(self) -> None:
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)

    def _json(self, status: HTTPStatus, body: dict) -> None:
        data = escape_surrogates(json.dumps(body, ensure_ascii=False)).encode()  # a name not in UTF-8 (X27)
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: HTTPStatus, message: str, hint: str = "", code: str = "refused") -> None:
        log.info("refused %s %s: %s", self.command, self.path[:200], message)
        self.close_connection = True
        self._json(status, {"ok": False, "error": {"code": code, "message": message, "hint": hint}})
