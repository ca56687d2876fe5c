"""`jobmatcher` with no command: the desktop window (pywebview), or browser mode where there is no display.

Both modes show the same page (frontend/) over the same API object (api.py).
The engine's launch sequence runs as the first task of the API, with the page
already open: it shows "Opening your data…" with progress, then either the app
or, if the launch was refused (another instance, a newer database, a failed
pre-migration backup), that message and what to do, instead of crashing.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from . import relaunch
from .api import Api, make_js_bridge
from .errors import JobMatcherError
from .launcher import act_as_launcher_if_asked

log = logging.getLogger(__name__)

TITLE = "JobMatcher"


def frontend_dir() -> Path:
    """The page's folder: frontend/ in the source tree, jobmatcher/frontend in a wheel, under sys._MEIPASS frozen."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "frontend"
    import jobmatcher

    package = Path(jobmatcher.__file__).resolve().parent
    source_tree = package.parents[1] / "frontend"  # a checkout (and editable installs)
    return source_tree if (source_tree / "index.html").exists() else package / "frontend"  # a wheel


def use_browser_mode(args, environ=os.environ, platform: str = sys.platform) -> bool:
    """--browser, or Linux with no display to open a window on (and no Qt platform chosen explicitly)."""
    if getattr(args, "browser", False):
        return True
    if platform.startswith("linux"):
        return not any(environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    return False


def unreachable_display(environ=os.environ, platform: str = sys.platform) -> str | None:
    """The display named by WAYLAND_DISPLAY and/or DISPLAY when a window cannot be opened on any of them, else None.

    A DISPLAY or WAYLAND_DISPLAY left over from an ssh session, a logged-out session or a closed remote
    desktop names a display nobody serves. Qt then aborts the whole process (SIGABRT, exit 134) with a
    message that suggests reinstalling (findings G12, H16), which Python cannot catch. So each display
    is asked first: Wayland by connecting to its socket ($XDG_RUNTIME_DIR/$WAYLAND_DISPLAY, or the path
    itself), X with libxcb (which Qt's xcb plugin loads anyway): `xcb_connect` and
    `xcb_connection_has_error`, authentication included. Qt tries Wayland, then X, so one answering is
    enough. Linux only, and not when a Qt platform is chosen (QT_QPA_PLATFORM); when libxcb cannot be
    loaded the X question is left to Qt.
    """
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    wayland, x = environ.get("WAYLAND_DISPLAY"), environ.get("DISPLAY")
    if not wayland and not x:
        return None
    if wayland and _wayland_answers(wayland, environ.get("XDG_RUNTIME_DIR")):
        return None
    if x and _x_answers(x):
        return None
    return " and ".join(d for d in (wayland, x) if d)


def _wayland_answers(display: str, runtime_dir: str | None) -> bool:
    import socket

    path = display if os.path.isabs(display) else os.path.join(runtime_dir or "", display)
    if not os.path.isabs(path):
        return False  # no XDG_RUNTIME_DIR: Qt's Wayland plugin cannot find the socket either
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def _x_answers(display: str) -> bool:
    import ctypes
    import ctypes.util

    try:
        xcb = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
    except OSError:
        return True  # cannot ask: leave it to Qt
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return bool(conn) and not xcb.xcb_connection_has_error(conn)
    finally:
        if conn:
            xcb.xcb_disconnect(conn)  # also frees the error object of a failed connection


def run_app(args) -> int:
    code = act_as_launcher_if_asked()
    if code is not None:
        return code
    relaunched = os.environ.pop(relaunch.RELAUNCHED_ENV, None) == "1"
    from .engine import Engine

    try:
        engine = Engine(getattr(args, "data_dir", None))
    except OSError as e:
        raise JobMatcherError(
            f"Cannot use the data folder: {e.strerror or e} ({e.filename}).",
            "Choose a folder you can write to with --data-dir.",
            code="data-folder-unusable",
            path=str(e.filename or ""),
        ) from None
    if use_browser_mode(args):
        return run_browser(args, engine, relaunched)
    try:
        import webview  # noqa: F401 - the optional [gui] extra
    except ImportError:
        print(
            "The window toolkit (pywebview) is not installed; serving the page in your browser instead.",
            file=sys.stderr,
        )
        return run_browser(args, engine, relaunched)
    if (display := unreachable_display()) is not None:
        print(
            f"Cannot open a window: the display {display} does not answer; it may be left over from "
            "an ssh session or a closed remote desktop. Serving the page in your browser instead.",
            file=sys.stderr,
        )
        return run_browser(args, engine, relaunched)
    return run_window(args, engine, relaunched)


# -- window mode -----------------------------------------------------------------------------


class WindowDialogs:
    """Native file dialogs of the pywebview window (they run on the Qt thread; we wait for the answer)."""

    FILE_TYPES = ("JobMatcher backups (*.db)", "All files (*.*)")

    def __init__(self, holder: dict) -> None:
        self._holder = holder

    def _ask(self, kind, **kw) -> str | None:
        result = self._holder["window"].create_file_dialog(kind, **kw)
        if not result:
            return None
        return result if isinstance(result, str) else result[0]

    def open_file(self, directory: str = "") -> str | None:
        import webview

        return self._ask(webview.FileDialog.OPEN, directory=directory, file_types=self.FILE_TYPES)

    def save_file(self, suggested_name: str, directory: str = "") -> str | None:
        import webview

        return self._ask(
            webview.FileDialog.SAVE, directory=directory, save_filename=suggested_name, file_types=self.FILE_TYPES
        )

    def choose_folder(self) -> str | None:
        import webview

        return self._ask(webview.FileDialog.FOLDER)


def _prepare_qt() -> None:
    # Qt WebEngine will not start as root with its Chromium sandbox on (it exits
    # before any output). The page is our own local files, so run it unsandboxed there.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")


def run_window(args, engine, relaunched: bool) -> int:
    _prepare_qt()
    import webview

    holder: dict = {}
    closing = threading.Event()

    def on_restart() -> bool:
        try:
            relaunch.start_launcher(args)
        except OSError as e:
            log.error("could not start the launcher: %s", e)
            return False
        closing.set()
        # Let the page receive the answer first, then close; the launcher waits for us to exit.
        threading.Timer(0.3, holder["window"].destroy).start()
        return True

    api = Api(engine, mode="window", dialogs=WindowDialogs(holder), on_restart=on_restart, relaunched=relaunched)
    api._begin_launch()
    # "#window" tells the page to wait for pywebview's bridge (a browser without the secret is told at once).
    window = webview.create_window(
        TITLE,
        url=str(frontend_dir() / "index.html") + "#window",
        js_api=make_js_bridge(api),
        width=1180,
        height=860,
        min_size=(760, 560),
        background_color="#F4F6FA",
    )
    holder["window"] = window

    def on_closing():
        running = api._running_task()
        if running is not None and running.kind == "restore":
            return False  # a restore cannot be interrupted by closing the window; it finishes in seconds
        closing.set()
        return True

    assert window is not None  # create_window returns None only for windows it could not make
    window.events.closing += on_closing

    from . import testhook

    testhook.start_if_asked(window, closing)
    try:
        # http_server: the page is served from 127.0.0.1 by pywebview, because ES modules
        # do not load from file:// URLs.
        webview.start(gui="qt", http_server=True, private_mode=True, debug=bool(os.environ.get("JOBMATCHER_DEVTOOLS")))
    finally:
        api._close()
    return 0


# -- browser mode ------------------------------------------------------------------------------


def _bind(api, secret: str, port: int, patience: float):
    """The browser-mode server on 127.0.0.1:`port` (0: any free port), or on the socket our previous self
    handed over. A port in use is tried again for `patience` seconds (saying so on stderr): a relaunch
    waits for the old process to let go of it. JobMatcherError (code "port-unavailable") after that."""
    from .server import AppServer

    inherited = _inherited_socket()
    if inherited is not None:
        return AppServer(api, frontend_dir(), secret, listening=inherited)
    deadline = time.monotonic() + patience
    said = False
    while True:
        try:
            return AppServer(api, frontend_dir(), secret, port)
        except OSError as e:
            if e.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise JobMatcherError(
                    f"Cannot serve on 127.0.0.1 port {port}: {e.strerror or e}.",
                    "Choose another port with --port, or leave it out to use any free one.",
                    code="port-unavailable",
                    port=port,
                ) from None
            if not said:
                print(f"Port {port} is in use; waiting up to {patience:.0f} s for it…", file=sys.stderr, flush=True)
                said = True
            time.sleep(0.2)


def _inherited_socket():
    """The listening socket our previous self handed over when it restarted in place (POSIX), or None."""
    raw = os.environ.pop(relaunch.SERVE_FD_ENV, None)
    if not raw:
        return None
    import socket

    try:
        sock = socket.socket(fileno=int(raw))
        os.set_inheritable(sock.fileno(), False)
        if sock.type != socket.SOCK_STREAM:
            raise OSError("not a stream socket")
        return sock
    except (OSError, ValueError) as e:
        log.warning("the handed-over socket %r cannot be used (%s); binding afresh", raw, e)
        return None


def run_browser(args, engine, relaunched: bool) -> int:
    # A restart comes back on the same port with the same secret, so the open page reconnects. On POSIX the
    # listening socket itself is handed over (see relaunch.replace_self): no other program can take the port
    # in between and receive the page's secret.
    secret = os.environ.pop(relaunch.SERVE_SECRET_ENV, "") or secrets.token_urlsafe(32)
    port = int(os.environ.pop(relaunch.SERVE_PORT_ENV, "") or 0) or int(getattr(args, "port", 0) or 0)
    holder: dict = {"restart_in_place": False}

    def on_restart() -> bool:
        server = holder["server"]
        if relaunch.can_replace_self():
            holder["restart_in_place"] = True
        else:  # Windows: a launcher waits for us to exit, then starts the app on the same port
            try:
                relaunch.start_launcher(
                    args, {relaunch.SERVE_PORT_ENV: str(server.port), relaunch.SERVE_SECRET_ENV: secret}
                )
            except OSError as e:
                log.error("could not start the launcher: %s", e)
                return False
        threading.Timer(0.3, server.shutdown).start()  # the page gets its answer first
        return True

    api = Api(engine, mode="browser", dialogs=None, on_restart=on_restart, relaunched=relaunched)
    # A relaunch waits for its old self to let go of the port; a port the user chose gets a moment (a run
    # just stopped), then a plain answer: no silent wait (finding G23).
    server = _bind(api, secret, port, patience=15 if relaunched else 2 if port else 0)
    holder["server"] = server
    # The URL is the first line on stdout: scripts and tests read it from there.
    print(server.url, flush=True)
    print(
        f"JobMatcher is open at {server.url}\nOpen that address in your browser. Press Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    api._begin_launch()

    def stop(_signum=None, _frame=None) -> None:
        # Ctrl+C and SIGTERM end the app, even during a restart. The serving loop is asked to end (from a thread:
        # shutdown waits for the loop, which runs on this one); no KeyboardInterrupt is raised into whatever the
        # loop is doing, where cleanup code could lose it (the server once served on after one). The data is
        # closed after the loop, once a running task (a restore) has finished: never in the middle of a write.
        holder["restart_in_place"] = False
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored (a shell's background job)
            signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:  # a SIGINT handler other than ours
        holder["restart_in_place"] = False
    finally:
        if not holder["restart_in_place"]:
            server.server_close()
        api._close()
    if holder["restart_in_place"]:
        try:
            restarted = relaunch.replace_self(
                args,
                (server.socket.fileno(),),
                {relaunch.SERVE_FD_ENV: str(server.socket.fileno()), relaunch.SERVE_SECRET_ENV: secret},
                still_wanted=lambda: holder["restart_in_place"],
            )
        except OSError as e:
            server.server_close()
            log.error("could not restart in place: %s", e)
            print(
                f"JobMatcher could not restart by itself ({e.strerror or e}). Start it again; "
                "your restored data is already in place.",
                file=sys.stderr,
            )
            return 1
        if not restarted:  # a Ctrl+C or SIGTERM came while the data was being closed: end, as asked
            server.server_close()
    return 0
