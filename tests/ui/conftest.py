"""Fixtures of the browser tests: a real ``designer serve`` with users, Debian's Chromium driven by
Playwright, axe-core from npm, and screenshots under ``test-artifacts/ui/``.

Chromium is Debian's package (``apt-get install chromium``, done by ``scripts/test``); Playwright
only drives it (``executable_path``), it downloads no browser. axe-core is fetched once with
``npm pack`` into ``.cache/axe-core`` (``scripts/test`` does it too). Without Chromium,
Playwright or axe-core the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("DESIGNER_UI_ARTIFACTS", ROOT / "test-artifacts" / "ui"))
AXE_VERSION = "4.14.1"
AXE_DIR = ROOT / ".cache" / "axe-core"
WIDTHS = (1280, 390)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def axe_source() -> str | None:
    """axe.min.js of axe-core ``AXE_VERSION`` (``npm pack``, cached)."""
    target = AXE_DIR / AXE_VERSION / "axe.min.js"
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        work = AXE_DIR / "download"
        work.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent", "--pack-destination", str(work)],
                             capture_output=True, text=True, timeout=180, check=False)
        if out.returncode != 0:
            return None
        with tarfile.open(work / out.stdout.strip().splitlines()[-1]) as tar:
            member = tar.getmember("package/axe.min.js")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
    return target.read_text()


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install -y chromium (scripts/test does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe() -> str:
    source = axe_source()
    if source is None:
        pytest.skip(f"axe-core {AXE_VERSION} not available (npm pack axe-core@{AXE_VERSION} failed)")
    return source


class Lab:
    """The server, its users' tokens, and helpers the tests share."""

    def __init__(self, server: Server, tokens: dict[str, str]):
        self.server = server
        self.tokens = tokens
        self.url = server.base_url

    def api(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=60)


def add_users(server: Server, users: dict[str, bool]) -> dict[str, str]:
    """Users (name -> admin) created like ``designer users add`` does, without its start-up time."""
    from app.auth.service import create_user
    from app.core.config import Settings
    from app.core.db import Database
    from app.main import prepare_database

    database = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    try:
        prepare_database(database)
        with database.transaction() as session:
            return {name: create_user(session, name, is_admin=admin) for name, admin in users.items()}
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """One server (SQLite, one worker) with users alice, bob and the admin root."""
    server = Server(data_dir=tmp_path_factory.mktemp("ui"), database_url=None, workers=1)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    tokens = add_users(server, {"alice": False, "bob": False, "root": True})
    server.start()
    try:
        yield Lab(server, tokens)
    finally:
        server.stop()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, accept_downloads=True)
    yield ctx
    ctx.close()


def sign_in(page, lab: Lab, user: str) -> None:
    page.goto(lab.url + "/ui/sign-in")
    page.fill("#f-token", lab.tokens[user])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/jobs")


def check_page(page, axe: str, name: str) -> None:
    """No serious or critical axe-core violation; screenshots at 1280 and 390 px wide."""
    page.evaluate(axe)
    violations = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                           .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)}));
    }""")
    assert violations == [], f"{name}: {violations}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


class CuttingProxy:
    """A TCP proxy on loopback in front of the server that can drop every open connection at once
    (a network failure as the browser sees it); records the head of each request it forwards."""

    def __init__(self, target_port: int):
        import socket
        import threading

        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []
        self.open: list = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, from_browser: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_browser:
                    with self._lock:
                        self.requests.append(data.decode("latin-1").split("\r\n\r\n", 1)[0])
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        with self._lock:
            sockets, self.open = self.open, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.cut()
