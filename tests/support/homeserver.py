"""A throw-away Synapse on 127.0.0.1 for the Matrix tests and benchmarks: config, start,
stop, users."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, without_proxies

ROOT = Path(__file__).resolve().parents[2]
SYNAPSE_PYTHON = ROOT / ".synapse-venv" / "bin" / "python"
SERVER_NAME = "undersign.test"
UNLIMITED = "{per_second: 10000, burst_count: 100000}"

HOMESERVER_YAML = """\
server_name: "{server_name}"
pid_file: "{dir}/homeserver.pid"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{dir}/homeserver.db"
log_config: "{dir}/log.yaml"
media_store_path: "{dir}/media"
signing_key_path: "{dir}/signing.key"
report_stats: false
registration_shared_secret: "{secret}"
macaroon_secret_key: "{secret}-macaroon"
form_secret: "{secret}-form"
enable_registration: false
bcrypt_rounds: 4
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
use_presence: false
presence:
  enabled: false
url_preview_enabled: false
user_directory:
  enabled: false
enable_metrics: false
rc_message: {unlimited}
rc_registration: {unlimited}
rc_room_creation: {unlimited}
rc_joins_per_room: {unlimited}
rc_login:
  address: {unlimited}
  account: {unlimited}
  failed_attempts: {unlimited}
rc_joins:
  local: {unlimited}
  remote: {unlimited}
rc_invites:
  per_room: {unlimited}
  per_user: {unlimited}
  per_issuer: {unlimited}
rc_3pid_validation: {unlimited}
rc_admin_redaction: {unlimited}
rc_key_requests: {unlimited}
"""

LOG_YAML = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: "{dir}/homeserver.log"
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


@dataclass
class Account:
    user_id: str
    password: str
    access_token: str
    device_id: str


class Synapse:
    """One homeserver process. ``restart()`` keeps its port, data and keys."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = os.urandom(16).hex()
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir.mkdir(parents=True, exist_ok=True)
        fields = {
            "dir": self.dir,
            "port": self.port,
            "secret": self.secret,
            "server_name": SERVER_NAME,
            "unlimited": UNLIMITED,
        }
        (self.dir / "homeserver.yaml").write_text(HOMESERVER_YAML.format(**fields))
        (self.dir / "log.yaml").write_text(LOG_YAML.format(**fields))

    def start(self, timeout: float = 60) -> None:
        env = without_proxies(os.environ)
        self.proc = subprocess.Popen(
            [
                str(SYNAPSE_PYTHON),
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.dir / "homeserver.yaml"),
            ],
            cwd=self.dir,
            env=env,
            stdout=(self.dir / "stdout.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Synapse exited at start:\n{self.log_tail()}")
            try:
                with self._open(f"{self.url}/_matrix/client/versions", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, n: int = 40) -> str:
        lines: list[str] = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.dir / name
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(lines)

    @staticmethod
    def _open(url: str, data: bytes | None = None, timeout: float = 10):  # type: ignore[no-untyped-def]
        # No proxy for loopback, whatever the environment says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        return opener.open(req, timeout=timeout)

    def register(self, name: str, password: str | None = None, admin: bool = False) -> Account:
        """Register through the shared-secret admin API (returns a token directly)."""
        password = password or os.urandom(8).hex()
        url = f"{self.url}/_synapse/admin/v1/register"
        with self._open(url) as resp:
            nonce = json.load(resp)["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    name.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        body = {
            "nonce": nonce,
            "username": name,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        try:
            with self._open(url, json.dumps(body).encode()) as resp:
                data = json.load(resp)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"register {name}: {exc.code} {exc.read()!r}") from None
        return Account(data["user_id"], password, data["access_token"], data["device_id"])

    def login(self, name: str, password: str, device_id: str) -> Account:
        """Log in with a fixed device id (the bot's E2EE identity)."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": name},
            "password": password,
            "device_id": device_id,
        }
        with self._open(f"{self.url}/_matrix/client/v3/login", json.dumps(body).encode()) as r:
            data = json.load(r)
        return Account(data["user_id"], password, data["access_token"], data["device_id"])


@contextlib.contextmanager
def started_synapse(folder: Path) -> Iterator[Synapse]:
    """A Synapse started in ``folder`` for the length of the block. Missing, the tests
    skip with the reason, except under CI=true, where a missing server is a failure."""
    import pytest

    if not SYNAPSE_PYTHON.exists():
        reason = "Synapse is not installed: run scripts/synapse.sh (or `make test`)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    hs = Synapse(folder)
    hs.start()
    try:
        yield hs
    finally:
        hs.stop()
