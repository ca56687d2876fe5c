"""The browser-mode server over real HTTP: the secret, Host and Origin checks, and only frontend/ served."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest
from jobmatcher.api import Api
from jobmatcher.app import frontend_dir
from jobmatcher.server import SECRET_HEADER, AppServer

SECRET = "s3cret-for-this-test-run"


@pytest.fixture
def server(engine):
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    srv = AppServer(api, frontend_dir(), SECRET, 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    api._close()


def request(
    srv: AppServer,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    secret: str | None = SECRET,
    host: str | None = "default",
    origin: str | None = None,
    headers: dict | None = None,
):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    h = dict(headers or {})
    h["Host"] = f"127.0.0.1:{srv.port}" if host == "default" else host
    if h["Host"] is None:
        del h["Host"]
    if secret is not None:
        h[SECRET_HEADER] = secret
    if origin is not None:
        h["Origin"] = origin
    if body is not None:
        h.setdefault("Content-Type", "application/json")
        h.setdefault("Content-Length", str(len(body)))
    # putrequest: send exactly these headers (no Host added behind our back, the path as given)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def api_call(srv, name, *args, **kw):
    return request(srv, "POST", f"/api/{name}", json.dumps({"args": list(args)}).encode(), **kw)


def test_an_api_call_with_the_secret_works(server):
    status, headers, data = api_call(server, "get_profile")
    assert status == 200
    assert json.loads(data) == {
        "ok": True,
        "value": {"full_name": "Ada Lovelace", "headline": "Analyst", "skills": json.loads(data)["value"]["skills"]},
    }
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_api_calls_without_the_right_secret_are_refused(server, secret):
    status, _, data = api_call(server, "get_profile", secret=secret)
    assert status == 403
    body = json.loads(data)
    assert body["ok"] is False and "secret" in body["error"]["message"]
    assert "Ada" not in data.decode()


def test_uploads_and_changes_need_the_secret_too(server, engine):
    assert request(server, "POST", "/upload", b"x" * 10, secret=None)[0] == 403
    before = engine.data.db_path.read_bytes()
    assert api_call(server, "save_profile", "Mallory", "", secret="nope")[0] == 403
    assert engine.data.db_path.read_bytes() == before


@pytest.mark.parametrize(
    "host",
    [
        None,
        "evil.example",
        "evil.example:{port}",
        "127.0.0.1:1",
        "localhost.evil.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "[::1]:{port}",
    ],
)
def test_requests_with_a_foreign_host_are_refused(server, host):
    if host is not None:
        host = host.format(port=server.port)
    for method, path in (("POST", "/api/get_profile"), ("GET", "/"), ("GET", "/js/app.js")):
        status, _, data = request(server, method, path, b"{}" if method == "POST" else None, host=host)
        assert status == 403, (method, path, host)
        assert b"Ada" not in data and b"<html" not in data


def test_localhost_by_name_is_our_host_too(server):
    assert api_call(server, "get_profile", host=f"localhost:{server.port}")[0] == 200


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1:1",
        "https://127.0.0.1:{port}",
        "http://127.0.0.1:{port}.evil.example",
    ],
)
def test_requests_from_a_foreign_origin_are_refused_even_with_the_secret(server, origin):
    status, _, data = api_call(server, "get_profile", origin=origin.format(port=server.port))
    assert status == 403
    assert b"Ada" not in data


def test_our_own_origin_is_accepted(server):
    assert api_call(server, "get_profile", origin=f"http://127.0.0.1:{server.port}")[0] == 200


def test_cross_site_fetches_are_refused(server):
    status, _, _ = api_call(server, "get_profile", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/..%2fpyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/%2E%2E%2Fpyproject.toml",
        "/js/../../pyproject.toml",
        "/js/..%2f..%2fpyproject.toml",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/..%5cpyproject.toml",
        "/.%2e/.%2e/pyproject.toml",
        "/frontend/../backend/jobmatcher/api.py",
        "/../backend/jobmatcher/api.py",
        "/%00index.html",
        "/.hidden",
        "/js/",
    ],
)
def test_path_traversal_is_refused(server, path):
    status, _, data = request(server, "GET", path, secret=None)
    assert status == 404, path
    assert b"[project]" not in data and b"root:" not in data and b"class Api" not in data


def test_a_symlink_out_of_the_frontend_is_not_followed(engine, tmp_path):
    front = tmp_path / "front"
    front.mkdir()
    (front / "index.html").write_text("<p>hi</p>")
    secret_file = tmp_path / "outside.txt"
    secret_file.write_text("private")
    (front / "link.txt").symlink_to(secret_file)
    api = Api(engine, mode="browser")
    srv = AppServer(api, front, SECRET, 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        assert request(srv, "GET", "/link.txt", secret=None)[0] == 404
        assert request(srv, "GET", "/index.html", secret=None)[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_page_and_its_modules_are_served_with_strict_headers(server):
    status, headers, data = request(server, "GET", "/", secret=None)
    assert status == 200 and b"<title>JobMatcher</title>" in data
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    status, headers, data = request(server, "GET", "/js/app.js", secret=None)
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_only_public_api_names_and_only_post(server):
    for name in ("_dispatch", "__init__", "_receive_upload", "get_profile.__globals__", "Get_Profile"):
        status, _, data = api_call(server, name)
        assert status == 404 or json.loads(data)["error"]["code"] == "unknown-call", name
    assert request(server, "GET", "/api/get_profile")[0] == 405
    assert request(server, "PUT", "/api/get_profile", b"{}")[0] == 405
    assert request(server, "OPTIONS", "/api/get_profile")[0] == 405  # no CORS preflight is ever granted


def test_every_public_call_passes_the_servers_name_check(server):
    """Finding L18: the server's filter on /api/NAME had no digits, so the page's add_s3_location was refused
    in browser mode as "There is no such call" (the window's bridge has no such filter)."""
    from jobmatcher.api import PUBLIC_METHODS
    from jobmatcher.server import _METHOD_NAME

    assert "add_s3_location" in PUBLIC_METHODS
    assert [n for n in PUBLIC_METHODS if not _METHOD_NAME.match(n)] == []
    # through the real server: the call reaches the API (here refused by its validation, not as unknown)
    status, _, data = api_call(server, "add_s3_location", {})
    assert status == 200, data
    error = json.loads(data)["error"]
    assert error["code"] != "unknown-call" and "does not have" not in error["message"], error


def test_bad_bodies_are_refused_readably(server):
    assert request(server, "POST", "/api/get_profile", b"not json")[0] == 400
    assert request(server, "POST", "/api/get_profile", b'{"args": "x"}')[0] == 400
    status, _, _ = request(server, "POST", "/api/get_profile", b"{}", headers={"Content-Length": str(2 << 20)})
    assert status == 413


def test_upload_then_check_names_the_file_as_uploaded(server):
    status, _, data = request(
        server,
        "POST",
        "/upload",
        b"just some text" * 20,
        headers={"X-File-Name": "my%20notes.txt", "Content-Type": "application/octet-stream"},
    )
    up = json.loads(data)["value"]
    assert status == 200 and up["name"] == "my notes.txt"
    body = json.loads(api_call(server, "check_restore_file", up["token"])[2])
    assert body["ok"] is False
    assert body["error"]["message"].startswith("my notes.txt is not a JobMatcher backup")
    assert body["error"]["reason"] == "not-sqlite"


def test_a_download_link_works_once(server, engine):
    b = engine.create_backup()
    link = json.loads(api_call(server, "export_backup", b.id)[2])["value"]["download"]
    status, headers, data = request(server, "GET", link, secret=None)
    assert status == 200 and data == Path(b.path).read_bytes()
    assert headers["Content-Disposition"] == f"attachment; filename=\"{b.id}.db\"; filename*=UTF-8''{b.id}.db"
    assert request(server, "GET", link, secret=None)[0] == 404
    # and only with our Host
    link = json.loads(api_call(server, "export_backup", b.id)[2])["value"]["download"]
    assert request(server, "GET", link, secret=None, host="evil.example")[0] == 403


def test_the_url_carries_the_secret_in_the_fragment(server):
    assert server.url == f"http://127.0.0.1:{server.port}/#secret={SECRET}"
    assert server.server_address[0] == "127.0.0.1"


# -- uploads on a real small disk (issue 8, kind 5) ------------------------------------------------------

MB = 1 << 20


def _small_disk_app(tmpfs, start_app, size_mb: int):
    from conftest import fill_sample_data
    from jobmatcher.engine import Engine

    mnt = tmpfs(size_mb * 1024)
    data = mnt / "data"
    data.mkdir()
    e = Engine(data)
    e.migrate()
    fill_sample_data(e, jobs=5)
    app = start_app(data, "--browser")
    app.wait_opened()
    return data, app


def _upload_stream(app, size: int, name: str, after_first=None) -> dict:
    """POST /upload as the page does, streaming `size` bytes; `after_first()` runs after the first MB is sent."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(app.url)
    secret = unquote(parts.fragment.split("secret=", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=120)
    conn.putrequest("POST", "/upload", skip_accept_encoding=True)
    for k, v in {
        SECRET_HEADER: secret,
        "X-File-Name": name,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(size),
    }.items():
        conn.putheader(k, v)
    conn.endheaders()
    chunk = b"\x5a" * MB
    try:
        for i in range(size // MB):
            conn.send(chunk)
            if i == 0 and after_first:
                after_first()
    except OSError:
        pass  # answered early: read the answer
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer


def _uploaded_files(data: Path) -> list[Path]:
    return [p for p in (data / ".uploads").rglob("*") if p.is_file()] if (data / ".uploads").exists() else []


def test_concurrent_uploads_cannot_together_fill_the_disk(tmpfs, start_app):
    """Three uploads at once each fit alone, not together: space is reserved across them, the disk never fills."""
    data, app = _small_disk_app(tmpfs, start_app, 160)
    size = 60 * MB  # alone: 60 MB + the 64 MB kept free < 160 MB; three: 180 MB > 160 MB
    barrier = threading.Barrier(3, timeout=60)
    answers: list[dict] = []

    def one(i):
        answers.append(_upload_stream(app, size, f"big-{i}.db", after_first=barrier.wait))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ok = [a for a in answers if a["ok"]]
    refused = [a for a in answers if not a["ok"]]
    assert len(answers) == 3 and ok and refused, answers
    for a in refused:
        assert a["error"]["code"] == "no-space", a
        assert "disk" in a["error"]["message"] and "full" in a["error"]["message"], a
        assert "Something unexpected" not in a["error"]["message"]
    # only the accepted uploads are on disk, whole; nothing partial is left of the refused ones
    files = _uploaded_files(data)
    assert len(files) == len(ok) and all(f.stat().st_size == size for f in files)
    # and the data can still be saved
    saved = app.call("save_profile", "Grace Hopper", "Analyst")
    assert saved["ok"], saved


def test_an_upload_that_meets_a_full_disk_is_deleted_at_once_and_says_so(tmpfs, start_app):
    data, app = _small_disk_app(tmpfs, start_app, 160)
    filler = data.parent / "filler"

    def fill_the_disk():  # another program fills the disk while the upload runs
        with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to fail again at close
            try:
                while True:
                    f.write(b"\0" * MB)
            except OSError:
                pass

    try:
        answer = _upload_stream(app, 40 * MB, "backup.db", after_first=fill_the_disk)
        assert not answer["ok"]
        assert answer["error"]["code"] == "no-space", answer
        assert "disk became full" in answer["error"]["message"]
        assert _uploaded_files(data) == []  # deleted before the answer, not at the next launch
    finally:
        filler.unlink(missing_ok=True)
    assert app.call("save_profile", "Grace Hopper", "Analyst")["ok"]


def test_hello_proves_the_server_knows_the_secret_without_sending_it(server):
    """After a restart the page asks /hello before it sends the secret again (issue 8 kind 7)."""
    import hmac as hmac_mod

    from jobmatcher.server import hello_proof

    nonce = "0123456789abcdef0123456789abcdef"
    status, _, data = request(server, "POST", "/hello", json.dumps({"nonce": nonce}).encode(), secret=None)
    assert status == 200, data
    value = json.loads(data)["value"]
    assert value["instance"] == server.api._instance
    expected = hmac_mod.new(
        SECRET.encode(), f"jobmatcher-hello:{nonce}:{value['instance']}".encode(), "sha256"
    ).hexdigest()
    assert value["proof"] == expected == hello_proof(SECRET, nonce, value["instance"])
    assert SECRET not in data.decode()
    for bad in ("", "xyz", "0" * 31, "0" * 64, 5):
        status, _, data = request(server, "POST", "/hello", json.dumps({"nonce": bad}).encode(), secret=None)
        assert status == 400, (bad, data)
    # a foreign page cannot use it either
    status, _, _ = request(
        server, "POST", "/hello", json.dumps({"nonce": nonce}).encode(), secret=None, origin="http://evil.example"
    )
    assert status == 403


def test_a_hostile_file_name_cannot_break_or_add_a_download_header(server, engine):
    """Finding G15: a file dropped into the backup folder with a quote and a newline in its name: the
    export's Content-Disposition stays one header, and the exact name travels percent-encoded."""
    from urllib.parse import unquote

    b = engine.create_backup()
    name = 'q"uote\nSet-Cookie: x=1'
    hostile = Path(b.path).with_name(name + ".db")
    hostile.write_bytes(Path(b.path).read_bytes())
    ids = [r["id"] for r in json.loads(api_call(server, "list_backups")[2])["value"]]
    assert name in ids
    link = json.loads(api_call(server, "export_backup", name)[2])["value"]["download"]
    status, headers, data = request(server, "GET", link, secret=None)
    assert status == 200 and data == hostile.read_bytes()
    assert "Set-Cookie" not in headers
    value = headers["Content-Disposition"]
    assert "\n" not in value and "\r" not in value
    assert value.startswith('attachment; filename="q_uote_Set-Cookie: x=1.db"; ')
    assert unquote(value.split("filename*=UTF-8''", 1)[1]) == name + ".db"


def test_idle_connections_cannot_starve_the_page(tmp_path):
    """Finding G11: any local process (no secret needed) opens more idle connections than the app may
    hold descriptors; the page's calls must still be answered. The app runs with a descriptor limit of
    256; 400 connections that send nothing would exhaust it if each kept a thread and descriptor."""
    import resource
    import socket

    from conftest_app import AppProcess, app_env

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    app = AppProcess(tmp_path / "data", ["--browser"], app_env(), preexec_fn=low_fd_limit)
    try:
        app.wait_opened()
        port = int(app.url.split(":")[2].split("/")[0])
        idle = []
        for _ in range(400):  # until the app stops accepting (its backlog full) or 400 are open
            s = socket.socket()
            s.settimeout(2)
            idle.append(s)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                break
        try:
            answer = app.call("app_info", timeout=60)  # before G11's fix: no answer at all
        finally:
            for s in idle:
                s.close()
        assert answer["ok"] is True
        assert app.call("list_backups", timeout=30)["ok"] is True  # and it keeps answering afterwards
    finally:
        app.stop()


def test_an_interrupt_while_a_request_thread_starts_stops_the_server(monkeypatch):
    """CI failure (Ctrl+C did not stop a browser-mode app, under load): the interrupt landed while the serving
    thread waited in Thread.start for the new request thread to run. That thread had started and freed its
    connection slot when it ended; process_request freed it again, the semaphore raised ValueError in place of
    the KeyboardInterrupt, and socketserver logged that as a failed request and served on."""
    import socket
    import socketserver

    real = socketserver.ThreadingMixIn.process_request

    def started_then_interrupted(self, request, client_address):
        before = set(threading.enumerate())
        real(self, request, client_address)
        for t in set(threading.enumerate()) - before:
            t.join(10)  # the request thread ran and ended: it freed its slot
        raise KeyboardInterrupt  # as the signal handler raises it in Thread.start's wait

    monkeypatch.setattr(socketserver.ThreadingMixIn, "process_request", started_then_interrupted)
    srv = AppServer(None, frontend_dir(), SECRET, 0)
    ended: dict = {}

    def serve():
        try:
            srv.serve_forever(poll_interval=0.05)
        except BaseException as e:  # noqa: BLE001 - what ended the loop is the point
            ended["by"] = e

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()
        serving.join(10)
        assert not serving.is_alive(), "the interrupt was swallowed: the server serves on"
        assert isinstance(ended.get("by"), KeyboardInterrupt)
        # every slot is free again, none freed twice
        assert all(srv._slots.acquire(blocking=False) for _ in range(srv.max_connections))
        assert not srv._slots.acquire(blocking=False)
    finally:
        if serving.is_alive():
            srv.shutdown()
        srv.server_close()
