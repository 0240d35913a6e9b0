"""Block Kit checked as Slack would: every block and view through slack_sdk's own models
(``Block.parse``, ``View``, and their ``to_dict``, which validates every nested element),
and Slack's limits: 50 blocks per message, 100 per view, 3,000 characters per text, a
modal title of 24 characters, ``private_metadata`` of 3,000. A key slack_sdk's model does
not know (a typo Slack would reject) is a problem too."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
TEXT = 3000
MODAL_TITLE = 24
METADATA = 3000


def _unknown_keys(raw: Any, parsed: Any, where: str) -> list[str]:
    """Keys of ``raw`` that the model dropped: slack_sdk does not know them."""
    if isinstance(raw, Mapping) and isinstance(parsed, Mapping):
        out: list[str] = []
        for key, value in raw.items():
            if key not in parsed:
                out.append(f"{where}.{key}: not a Block Kit field")
            else:
                out += _unknown_keys(value, parsed[key], f"{where}.{key}")
        return out
    if isinstance(raw, list) and isinstance(parsed, list) and len(raw) == len(parsed):
        return [p for i, (r, q) in enumerate(zip(raw, parsed, strict=True))
                for p in _unknown_keys(r, q, f"{where}[{i}]")]
    return []


def _long_texts(raw: Any, where: str) -> list[str]:
    if isinstance(raw, Mapping):
        out = [f"{where}.text: {len(raw['text'])} characters" for _ in [0]
               if isinstance(raw.get("text"), str) and len(raw["text"]) > TEXT]
        for key, value in raw.items():
            out += _long_texts(value, f"{where}.{key}")
        return out
    if isinstance(raw, list):
        return [p for i, item in enumerate(raw) for p in _long_texts(item, f"{where}[{i}]")]
    return []


def block_problems(blocks: Any, limit: int = MESSAGE_BLOCKS) -> list[str]:
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list):
        return [f"blocks is a {type(blocks).__name__}, not a list"]
    problems = [f"{len(blocks)} blocks; at most {limit}"] if len(blocks) > limit else []
    for i, raw in enumerate(blocks):
        block = Block.parse(raw)
        if block is None:
            problems.append(f"block {i}: slack_sdk does not know {raw!r:.80}")
            continue
        try:
            block.validate_json()
            parsed = block.to_dict()  # validates every nested element too
        except SlackObjectFormationError as exc:
            problems.append(f"block {i}: {exc}")
            continue
        problems += _unknown_keys(raw, parsed, f"block {i}")
    return problems + _long_texts(blocks, "blocks")


def view_problems(view: Any) -> list[str]:
    if isinstance(view, str):
        view = json.loads(view)
    if not isinstance(view, Mapping):
        return ["the view is not an object"]
    problems: list[str] = []
    try:
        View(**view).validate_json()
    except (SlackObjectFormationError, TypeError) as exc:
        problems.append(f"view: {exc}")
    if view.get("type") == "modal":
        title = view.get("title", {}).get("text", "")
        if not 0 < len(title) <= MODAL_TITLE:
            problems.append(f"modal title of {len(title)} characters")
        for key in ("submit", "close"):
            if key in view and len(view[key].get("text", "")) > MODAL_TITLE:
                problems.append(f"{key} text over {MODAL_TITLE} characters")
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > METADATA:
        problems.append(f"private_metadata of {len(metadata)} characters")
    return problems + block_problems(view.get("blocks", []), VIEW_BLOCKS)


def assert_blocks_valid(blocks: Sequence[Any], limit: int = MESSAGE_BLOCKS) -> None:
    problems = block_problems(list(blocks), limit)
    assert not problems, problems


def assert_view_valid(view: Mapping[str, Any]) -> None:
    problems = view_problems(view)
    assert not problems, problems
