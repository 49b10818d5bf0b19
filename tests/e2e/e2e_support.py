"""End-to-end fixtures: a real `trailhouse serve` and a real headless Chromium.

The browser is Debian's `chromium` package (`/usr/bin/chromium`, installed by `make test` when
it may; without it the tests are skipped, naming it, and fail in CI), driven by Playwright
through `executable_path`: nothing downloads a browser. Screenshots of every page go to
`tests/e2e/screenshots/` (git-ignored), which the test run names at its end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from system_packages import require_chromium

CHROMIUM = Path(os.environ.get("TRAILHOUSE_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
START_TIMEOUT = 60.0


def _command() -> list[str]:
    script = Path(sys.executable).parent / "trailhouse"
    if script.exists():
        return [str(script)]
    found = shutil.which("trailhouse")
    return [found] if found else [sys.executable, "-m", "trailhouse"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Keys:
    account_id: str
    access_key_id: str
    access_key_secret: str


@dataclass
class Server:
    """A `trailhouse serve` process and the keys made for it."""

    data_dir: Path
    port: int
    root: Keys | None = None
    alice: Keys | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        kept = {k: v for k, v in os.environ.items() if not k.startswith("TRAILHOUSE_")}
        return kept | {"TRAILHOUSE_LOG_LEVEL": "warning"} | extra

    def create_account(self) -> None:
        done = subprocess.run(
            [*_command(), "account", "create", "--data-dir", str(self.data_dir)],
            capture_output=True,
            timeout=60,
            env=self.environment({}),
            check=True,
        )
        document = json.loads(done.stdout)
        self.root = Keys(
            document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"]
        )

    def start(self, *arguments: str, env: dict[str, str] | None = None) -> None:
        log = (self.data_dir.parent / f"serve-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                *_command(),
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                *arguments,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environment(env or {}),
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"trailhouse serve exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        else:
            self.stop()
            pytest.fail(f"trailhouse serve did not answer /health within {START_TIMEOUT} s")
        demo = self.data_dir / "demo-credentials.json"
        if demo.exists():
            document = json.loads(demo.read_text())
            self.root = _keys(document["root"])
            self.alice = _keys(document["alice"])

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


def _keys(document: dict[str, str]) -> Keys:
    return Keys(document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"])


@pytest.fixture(scope="session")
def playwright_browser() -> Iterator[Any]:
    """Headless Chromium from Debian's package, shared by every end-to-end test."""
    require_chromium(CHROMIUM)
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        manager.stop()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`trailhouse serve --demo`: three days of demo events and the table actiontrail_demo."""
    server = Server(tmp_path_factory.mktemp("e2e") / "data", free_port())
    server.start("--demo")
    try:
        yield server
    finally:
        server.stop()


class Screenshots:
    """Saves full-page screenshots under SCREENSHOTS and remembers page load times."""

    def __init__(self) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []
        self.timings: dict[str, int] = {}

    def take(self, page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")  # sticky bars would be drawn where scrolled to
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    def save_timings(self) -> None:
        (SCREENSHOTS / "page-load-ms.json").write_text(json.dumps(self.timings, indent=2))


SHOTS = Screenshots()


@pytest.fixture(scope="session")
def shots() -> Iterator[Screenshots]:
    """The run's screenshots; their folder and the page load times are printed at the end."""
    yield SHOTS
    SHOTS.save_timings()


def sign_in(page: Any, url: str, keys: Keys) -> None:
    """Sign in through the sign-in page and land on Trails."""
    page.goto(f"{url}/console/signin")
    page.fill("#access-key-id", keys.access_key_id)
    page.fill("#access-key-secret", keys.access_key_secret)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/trails")


def open_page(page: Any, url: str, *, complete: bool = True) -> int:
    """Open a console page and wait until it shows its data; return the milliseconds from
    navigation start to the moment the page marked itself ready (its data shown)."""
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    if complete:
        page.wait_for_selector("body[data-complete='1']", timeout=15_000)
    return int(page.get_attribute("body", "data-ready-ms") or 0)
