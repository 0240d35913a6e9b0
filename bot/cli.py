"""The ``undersign`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bot import logsafe
from bot.config import Config, ConfigError, load


def _version() -> str:
    try:
        return version("undersign")
    except PackageNotFoundError:
        return "0+unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="undersign",
        description="Collect co-signers for a collective letter on Slack and Matrix.",
    )
    parser.add_argument("--version", action="version", version=f"undersign {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the adapters the config enables (the console if none)")
    run.add_argument("--config", type=Path, help="TOML config file")
    run.add_argument("--debug", action="store_true",
                     help="log Undersign's own steps at DEBUG (libraries stay at INFO: their "
                          "debug logs carry message payloads)")
    run.add_argument("--debug-unredacted", action="store_true",
                     help="log everything at DEBUG, payloads included: names and titles "
                          "will be in the log. Only on a test workspace")
    run.add_argument("--log-format", choices=("text", "json"), default="text",
                     help="json: one object a line (time, level, logger, message) for log "
                          "shippers; the same redaction as text")
    check = sub.add_parser("check-config", help="validate a config file; exit 1 on any problem")
    check.add_argument("file", type=Path)
    manifest = sub.add_parser("slack-manifest", help="print the Slack app manifest to paste")
    manifest.add_argument("--config", type=Path, help="use this config's command name and mode")
    purge = sub.add_parser("purge", help="apply retention now")
    purge.add_argument("--config", type=Path)
    rotate = sub.add_parser(
        "rotate-key",
        help="re-seal every identity under a new key (UNDERSIGN_NEW_DB_KEY, or a new one); "
             "stop the bot first")
    rotate.add_argument("--config", type=Path)
    backup = sub.add_parser(
        "backup", help="write a consistent copy of the database to FILE (0600, checked), "
                       "also while the bot runs; the key is never in it")
    backup.add_argument("file", type=Path)
    backup.add_argument("--config", type=Path)
    restore = sub.add_parser(
        "restore", help="put a backup in place of the database (stop the bot first); "
                        "refused if made with another key or by a newer Undersign")
    restore.add_argument("file", type=Path)
    restore.add_argument("--config", type=Path)
    verify = sub.add_parser(
        "matrix-verify",
        help="cross-sign the Matrix bot's device (made once, kept sealed in the database) "
             "and report; stop the bot first")
    verify.add_argument("--config", type=Path)
    verify.add_argument("--accept-identity", metavar="USER_ID",
                        help="accept this person's new cross-signing identity after you "
                             "checked with them that they reset it")
    return parser


def _load(path: Path | None, *, check_secrets: bool = True) -> Config:
    try:
        return load(path, check_secrets=check_secrets)
    except ConfigError as err:
        for problem in err.problems:
            print(f"config: {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def _logging(*, debug: bool, unredacted: bool, json_lines: bool = False) -> None:
    """INFO by default. Our own log lines never carry user ids, titles or texts; library
    DEBUG logs do (aiosqlite logs SQL parameters, Bolt and nio payloads), so they are
    only let through with the explicit --debug-unredacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logsafe.JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if unredacted else logging.INFO,
                        handlers=[handler])
    logsafe.UNREDACTED = unredacted  # exception texts and tracebacks name rooms and people
    if debug or unredacted:
        for ours in ("undersign", "bot", "adapters", "commands"):
            logging.getLogger(ours).setLevel(logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _logging(debug=getattr(args, "debug", False),
             unredacted=getattr(args, "debug_unredacted", False),
             json_lines=getattr(args, "log_format", "text") == "json")
    if args.cmd == "check-config":
        try:
            load(args.file)
        except ConfigError as err:
            for problem in err.problems:
                print(f"{args.file}: {problem}")
            return 1
        print(f"{args.file}: ok")
        return 0
    if args.cmd == "slack-manifest":
        from adapters.slack_manifest import manifest

        print(manifest(_load(args.config, check_secrets=False)))
        return 0
    from bot.app import App
    from bot.backup import BackupError
    from bot.keys import DatabaseBusy
    from bot.seal import KeyError_
    from bot.store import StoreError

    config = _load(args.config, check_secrets=args.cmd in ("run", "matrix-verify"))
    try:
        if args.cmd == "purge":
            return asyncio.run(_purge(config))
        if args.cmd == "matrix-verify":
            from adapters.matrix_trust import matrix_verify

            try:
                signed = asyncio.run(matrix_verify(config, args.accept_identity, sys.stdout))
            except RuntimeError as err:  # the homeserver refused the login
                print(f"undersign: {err}", file=sys.stderr)
                return 1
            return 0 if signed else 1
        if args.cmd in ("backup", "restore"):
            return _backup_or_restore(config, args.cmd, args.file)
        if args.cmd == "rotate-key":
            from bot.keys import rotate_key

            asyncio.run(rotate_key(config.database_path, sys.stdout))
            return 0
        asyncio.run(App(config).run())
    except (KeyError_, StoreError, DatabaseBusy, BackupError) as err:
        print(f"undersign: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _backup_or_restore(config: Config, cmd: str, file: Path) -> int:
    """``backup`` beside a running bot (a shared lock: never during a key rotation);
    ``restore`` with the database to itself (the bot stopped)."""
    from bot import backup
    from bot.keys import DatabaseLock
    from bot.seal import Sealer, load_key

    database = config.database_path
    lock = DatabaseLock(database)
    lock.acquire(exclusive=cmd == "restore", doing="restoring a backup")
    try:
        sealer = Sealer(load_key(database))
        if cmd == "backup":
            made = backup.backup(database, file, sealer)
            print(f"backup written to {made.path}: {made.letters} letter(s), schema "
                  f"{made.schema}, integrity checked, opens with the current key; the key "
                  "is not in it: keep the key apart from the backups")
        else:
            done = backup.restore(file, database, sealer)
            print(f"restored {done.letters} letter(s) from {file} (schema {done.schema}); "
                  "start the bot to use it")
    finally:
        lock.release()
    return 0


async def _purge(config: Config) -> int:
    from bot.app import App
    from bot.core import utc_now

    app = App(config)
    await app.open(create_key=False)
    try:
        letters, events = await app.store.purge(utc_now(), config.bot.retention_days)
    finally:
        await app.close()
    print(f"purged {letters} closed letter(s) and {events} old event record(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
