"""The command line: --version, check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("undersign ")


def test_the_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0


def test_check_config_lists_every_problem(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[bot]\ntimezone = "Mars/Olympus"\nretention_days = -1\ncolour = "red"\n'
                   '[slack]\nenabled = true\nmode = "carrier-pigeon"\n'
                   '[matrix]\nhomeserver = "matrix.org"\n')
    assert main(["check-config", str(bad)]) == 1
    out = capsys.readouterr().out
    for expected in ("bot.timezone", "bot.retention_days", "bot.colour: unknown key",
                     "slack.mode", "matrix.homeserver"):
        assert expected in out, out


def test_check_config_requires_secrets_of_enabled_adapters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "MATRIX_ACCESS_TOKEN", "MATRIX_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[slack]\nenabled = true\n[matrix]\nenabled = true\n")
    assert main(["check-config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "SLACK_BOT_TOKEN" in out and "SLACK_APP_TOKEN" in out and "MATRIX_ACCESS_TOKEN" in out


def test_check_config_reports_broken_toml(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[bot\n")
    assert main(["check-config", str(cfg)]) == 1
    assert "not valid TOML" in capsys.readouterr().out


def test_slack_manifest_uses_the_configured_command(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import json

    cfg = tmp_path / "c.toml"
    cfg.write_text('[slack]\ncommand = "/cosign"\n')
    assert main(["slack-manifest", "--config", str(cfg)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["features"]["slash_commands"][0]["command"] == "/cosign"
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert {"reaction_added", "reaction_removed"} <= set(
        manifest["settings"]["event_subscriptions"]["bot_events"])


@pytest.mark.parametrize("minutes", ["0.5", "0", "-3"])
def test_check_config_refuses_a_count_refresh_under_a_minute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], minutes: str,
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[bot]\ncount_refresh_minutes = {minutes}\n")
    assert main(["check-config", str(cfg)]) == 1
    assert "bot.count_refresh_minutes" in capsys.readouterr().out
