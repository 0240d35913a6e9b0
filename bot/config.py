"""Configuration: pydantic models of config.example.toml; secrets from the environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# A Matrix server name (host or IP literal, optional port), or "*" for any.
SERVER_NAME = r"^(\*|[A-Za-z0-9.\-]{1,255}(:\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?)$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotConfig(_Section):
    database: str = "undersign.db"
    timezone: str = "UTC"
    retention_days: Annotated[int, Field(ge=0, le=3650)] = 30
    sign_emoji: Annotated[str, Field(min_length=1, max_length=32)] = "✍️"
    grace_minutes: Annotated[int, Field(ge=0, le=10080)] = 60
    count_refresh_minutes: Annotated[float, Field(ge=1, le=1440)] = 10
    admins: list[str] = []
    # abuse limits: generous defaults, per person and hour / per room / per letter
    new_per_hour: Annotated[int, Field(ge=1)] = 10
    remind_per_hour: Annotated[int, Field(ge=1)] = 30
    export_per_hour: Annotated[int, Field(ge=1)] = 10
    max_open_letters_per_room: Annotated[int, Field(ge=1)] = 50
    max_schedules_per_letter: Annotated[int, Field(ge=1)] = 20
    # a daily online backup into this folder (relative to the config file), the newest kept
    backup_dir: str | None = None
    backup_keep: Annotated[int, Field(ge=1, le=366)] = 7

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')"
            ) from exc
        return value


class SlackConfig(_Section):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 3000
    command: Annotated[str, Field(pattern=r"^/[a-z0-9_\-]{1,31}$")] = "/undersign"
    api_base_url: Annotated[str, Field(pattern=r"^https?://")] = "https://slack.com/api/"
    private_replies: Literal["ephemeral", "dm"] = "ephemeral"
    allowed_teams: list[str] = []
    # Who may sign: full members of an allowed team (the bot's own when allowed_teams is
    # empty): no guests, bots or Slack Connect people of other organisations; or anyone.
    signers: Literal["members", "anyone"] = "members"


class MatrixConfig(_Section):
    enabled: bool = False
    homeserver: Annotated[str, Field(pattern=r"^https?://")] = "https://matrix.example.org"
    user_id: Annotated[str, Field(pattern=r"^@[^:]+:.+$")] = "@undersign:example.org"
    device_id: Annotated[str, Field(min_length=1)] = "UNDERSIGN"
    store_path: str = "matrix-store"
    prefix: Annotated[str, Field(min_length=1, max_length=32)] = "!undersign"
    e2ee: bool = True
    # Whose devices get room keys: those their owner cross-signed, or every device (TOFU).
    trust: Literal["cross-signed", "all"] = "cross-signed"
    allowed_rooms: list[str] = []
    allowed_users: list[str] = []
    # The servers whose users may sign: empty for the bot's own server, ["*"] for any.
    signer_servers: list[Annotated[str, Field(pattern=SERVER_NAME)]] = []

    @property
    def server_name(self) -> str:
        return self.user_id.partition(":")[2].lower()

    def may_sign(self, server: str) -> bool:
        """Whether users of ``server`` may sign (``signer_servers``)."""
        allowed = [s.lower() for s in self.signer_servers] or [self.server_name]
        return "*" in allowed or server.lower() in allowed


LISTEN = r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}$"


class OpsConfig(_Section):
    # "HOST:PORT" for /healthz and /metrics (e.g. "127.0.0.1:9464"); unset: no server
    listen: Annotated[str, Field(pattern=LISTEN)] | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self.listen is not None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Config(_Section):
    bot: BotConfig = BotConfig()
    slack: SlackConfig = SlackConfig()
    matrix: MatrixConfig = MatrixConfig()
    ops: OpsConfig = OpsConfig()
    # Where relative paths (database, store_path) are read from: the config file's folder.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_path(self) -> Path:
        return self.path(self.bot.database)


class ConfigError(Exception):
    """Every problem found in a config, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def secret(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


# The environment variables each platform (and Slack mode) needs: every group of a row,
# and of a group any one name (Matrix logs in with an access token or a password).
SECRETS: Mapping[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("slack", "socket"): (("SLACK_BOT_TOKEN",), ("SLACK_APP_TOKEN",)),
    ("slack", "http"): (("SLACK_BOT_TOKEN",), ("SLACK_SIGNING_SECRET",)),
    ("matrix", ""): (("MATRIX_ACCESS_TOKEN", "MATRIX_PASSWORD"),),
}


def unset_secrets(
    platform: str, mode: str = "", value: Callable[[str], str | None] = secret
) -> list[str]:
    """The needed groups of which no variable has a ``value`` (by default the
    environment's), each as its names joined by "or"."""
    return [" or ".join(names) for names in SECRETS[platform, mode]
            if not any(value(name) for name in names)]


def missing_secrets(config: Config) -> list[str]:
    problems: list[str] = []
    if config.slack.enabled:
        problems += [f"slack: environment variable {names} is not set"
                     for names in unset_secrets("slack", config.slack.mode)]
    if config.matrix.enabled:
        problems += [f"matrix: set {names} in the environment" for names in unset_secrets("matrix")]
    return problems


def load(path: Path | None, *, check_secrets: bool = True) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        config = Config.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{where}: {msg}")
        raise ConfigError(problems) from None
    if check_secrets:
        problems = missing_secrets(config)
        if problems:
            raise ConfigError(problems)
    return config
