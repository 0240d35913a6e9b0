"""Who may invite the Matrix bot where: allowed_users globs and allowed_rooms, no server."""

from __future__ import annotations

import pytest

from adapters.matrix import MatrixAdapter
from bot.config import BotConfig, MatrixConfig
from tests.support.state import NoState


def adapter(**matrix: object) -> MatrixAdapter:
    config = MatrixConfig.model_validate({"user_id": "@undersign:example.org", **matrix})
    return MatrixAdapter(config, BotConfig(), NoState())


@pytest.mark.parametrize(("settings", "inviter", "room", "joins"), [
    ({}, "@alice:example.org", "!any:example.org", True),
    ({}, "@mallory:elsewhere.net", "!any:example.org", False),
    ({"allowed_users": ["@*:union.org"]}, "@ann:union.org", "!r:union.org", True),
    ({"allowed_users": ["@*:union.org"]}, "@alice:example.org", "!r:union.org", False),
    ({"allowed_rooms": ["!organising:example.org"]}, "@alice:example.org",
     "!organising:example.org", True),
    ({"allowed_rooms": ["!organising:example.org"]}, "@alice:example.org",
     "!watercooler:example.org", False),
    ({"allowed_users": ["@alice:example.org"], "allowed_rooms": ["!a:*"]},
     "@alice:example.org", "!a:example.org", True),
    ({"allowed_users": ["@alice:example.org"], "allowed_rooms": ["!a:*"]},
     "@alice:example.org.evil", "!a:example.org", False),
])
def test_the_bot_joins_only_where_allowed_users_and_allowed_rooms_both_say_so(
    settings: dict[str, object], inviter: str, room: str, joins: bool
) -> None:
    assert adapter(**settings).may_invite(inviter, room) is joins
