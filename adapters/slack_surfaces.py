"""Slack's private surfaces: the modals (start a letter, close one, an answer shown in a
modal) and the Home tab. Neither is a message, so neither is in any history.

What a person does on them becomes the same neutral ``Command`` as a slash command. The
replies to that one command, to that one person, are held back from messages by a
``Capture`` (a context variable, so only the replies of that event are held) and shown on
the surface instead: a refusal beside its field, a list in a modal, ``mine`` as the Home.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from adapters import slack_translate as tr
from adapters import slack_views as views
from adapters.slack_send import error_code
from bot.events import Command, Edit, Held, Post, Private, Reply, Room, Said, User

if TYPE_CHECKING:
    from adapters.slack import SlackAdapter

log = logging.getLogger("undersign.slack")

Ack = Callable[..., Awaitable[None]]
# Slack wants a view_submission answered within 3 s: the core answers in milliseconds, so
# this is only the bound for a stuck database. Past it the modal closes and the replies go
# as messages.
DECIDE_SECONDS = 2.0
# How long a modal opened as "being prepared" waits for its answer (a signature block asks
# Slack for each signer's display name, paced at 100 a minute).
ANSWER_SECONDS = 300.0
# Commands from the Home tab have no channel: this stands for it (nothing is posted there).
HOME = "app_home"
HOME_VIEWERS = 10_000  # people whose Home is kept up to date, in memory only
MEMBERSHIP_SECONDS = 600.0
# The commands that post in the room they are typed in, now or when due; a reminder "to
# signers" or "to organizers" does not.
POSTS_IN_ROOM = frozenset({"new", "announce", "review", "remind"})
NOT_IN_ROOM = ("signers", "organizers")
# conversations.info's answers for a channel the bot cannot see (a private one it is not in)
NOT_VISIBLE = frozenset({"channel_not_found", "not_in_channel"})


def posts_in_room(words: list[str]) -> bool:
    """Whether a command line (split in words) posts in the room it is typed in."""
    lowered = [w.lower().strip("\"'") for w in words]
    if not lowered or lowered[0] not in POSTS_IN_ROOM:
        return False
    return not (lowered[0] == "remind" and len(lowered) > 2 and lowered[-2] == "to"
                and lowered[-1] in NOT_IN_ROOM)


@dataclass
class Capture:
    """The replies to one person's action on a surface. ``keep_all``: every private reply
    to them is held (shown in a modal); else only a refusal (shown beside its field).
    ``home_only``: a refresh of the Home tab, which sends nothing else. ``decided`` is set
    by the first reply, or when the event is done."""

    user: User
    keep_all: bool = False
    home_only: bool = False
    kept: list[Private] = field(default_factory=list)
    decided: asyncio.Event = field(default_factory=asyncio.Event)

    def keeps(self, reply: Reply) -> bool:
        if self.decided.is_set() or not isinstance(reply, Private) or reply.user != self.user:
            return False
        self.decided.set()
        if self.keep_all or reply.refused is not None:
            self.kept.append(reply)
            return True
        return False

    @property
    def refused(self) -> str | None:
        return next((r.refused for r in self.kept if r.refused is not None), None)


CAPTURE: ContextVar[Capture | None] = ContextVar("undersign_slack_capture", default=None)


def _user(body: Mapping[str, Any]) -> User | None:
    found = tr.user_of(body)
    return User(tr.PLATFORM, found) if found else None


def _trigger(body: Mapping[str, Any]) -> str | None:
    trigger = body.get("trigger_id")
    return trigger if isinstance(trigger, str) and trigger else None


class Surfaces:
    """The modals and the Home tab of one Slack adapter."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter
        # Who opened the Home tab, and the letters it shows them as an organizer: in
        # memory only, to keep those tabs current.
        self.home_viewers: OrderedDict[str, frozenset[int]] = OrderedDict()
        self._refreshing: set[str] = set()
        self._members: dict[str, float] = {}  # channel -> when it was last seen a member

    @property
    def _client(self) -> Any:
        return self.adapter.client

    async def _call(self, method: str, fn: Callable[..., Awaitable[Any]], **kw: Any) -> Any:
        return await self.adapter.sender.safe(method, fn, paced=False, **kw)

    # -- where the bot may post ----------------------------------------------------------

    async def is_member(self, channel: str) -> bool:
        """Whether the bot is in ``channel`` (conversations.info; remembered for a while
        when it is). A private channel it is not in is one it cannot see. A direct message
        is the core's to refuse; another failed look-up is taken as yes, so that posting is
        tried."""
        if channel.startswith("D"):
            return True
        seen = self._members.get(channel)
        if seen is not None and time.monotonic() - seen < MEMBERSHIP_SECONDS:
            return True
        try:
            info = await self.adapter.sender.call(
                "conversations.info", self._client.conversations_info, paced=False,
                channel=channel)
        except SlackApiError as exc:
            return error_code(exc) not in NOT_VISIBLE
        if info is None:
            return True
        member = bool(tr.map_of(info.get("channel")).get("is_member"))
        if member:
            self._members[channel] = time.monotonic()
        return member

    async def answer_not_member(self, channel: str, user: str) -> None:
        text = views.not_member(self.adapter.bot_name, self.adapter.config.command)
        await self.adapter.sender.respond_only(channel, user, text)

    # -- Start a letter --------------------------------------------------------------------

    async def open_new_letter(self, body: Mapping[str, Any], channel: str | None) -> None:
        trigger = _trigger(body)
        if trigger is not None:
            await self._call("views.open", self._client.views_open, trigger_id=trigger,
                             view=views.new_letter(channel))

    async def on_visibility(self, body: Mapping[str, Any]) -> None:
        """The visibility buttons of "Start a letter" and "Edit": the threshold shows for
        sealed."""
        view = tr.map_of(body.get("view"))
        chosen = views.chosen_visibility(body)
        view_id = view.get("id")
        shown = views.rebuilt(view, chosen) if chosen is not None else None
        if shown is None or not isinstance(view_id, str):
            return
        await self._call("views.update", self._client.views_update, view_id=view_id,
                         hash=view.get("hash"), view=shown)

    async def on_new_submission(self, ack: Ack, body: Mapping[str, Any]) -> None:
        """A submitted "Start a letter": the core's refusal comes back as a field error in
        the modal; a letter started closes it and is announced."""
        form = views.read_form(tr.map_of(body.get("view")))
        problem = views.form_problem(form)
        if problem is None and form.channel is not None and not await self.is_member(
                form.channel):
            problem = views.CHANNEL if views.CHANNEL in form.fields else views.TITLE, (
                f"I am not in that channel: invite me first with /invite @"
                f"{self.adapter.bot_name}, or choose another.")
        if problem is None and form.channel is None:
            problem = views.CHANNEL, "Choose a channel."
        await self._submit(ack, body, form, problem, form.channel or HOME, views.new_command(form))

    async def on_edit_submission(self, ack: Ack, body: Mapping[str, Any]) -> None:
        """A submitted "Edit": the same ``edit`` line as typed, with only the fields that
        differ from those it opened with; a refusal comes back beside its field, an edit
        made closes the modal (the core updates every announcement)."""
        view = tr.map_of(body.get("view"))
        letter = views.metadata(view).get("letter")
        if not isinstance(letter, int):
            await ack()
            return
        form, was = views.read_form(view), views.was_of(view)
        text = views.edit_command(letter, form, was)
        problem = views.form_problem(form, was)
        if problem is None and text is None:
            problem = views.TITLE, views.NOTHING_CHANGED
        await self._submit(ack, body, form, problem, form.channel or HOME, text or "")

    async def _submit(self, ack: Ack, body: Mapping[str, Any], form: views.LetterForm,
                      problem: tuple[str, str] | None, where: str, text: str) -> None:
        """A form's ``text`` run as the person's command in ``where``, unless the adapter
        found a ``problem`` first: a refusal is a field error, anything else closes it."""
        user, trigger = _user(body), _trigger(body)
        if user is None or trigger is None:
            await ack()
            return
        if problem is not None:
            field_id, words = problem
            await ack(response_action="errors", errors={field_id: views.field_error(words)})
            return
        room = Room(tr.PLATFORM, where, direct=where == HOME or where.startswith("D"))
        capture = await self.run(Command(f"view:{trigger}", user, room, text,
                                         tz=await self.adapter.timezone(user.id)), Capture(user))
        refused = capture.refused
        if refused is None:
            await ack()
            return
        await ack(response_action="errors",
                  errors={views.field_of(refused, form): views.field_error(refused)})

    # -- the overflow menu, Close, and answers in a modal ----------------------------------

    async def on_menu(self, body: Mapping[str, Any]) -> None:
        """An entry of an announcement's overflow menu: a modal (Edit, Close's question,
        an answer such as the final block), or the command answered as typed."""
        choice, user, channel = tr.menu_choice(body), _user(body), tr.channel_of(body)
        if choice is None or user is None or channel is None:
            return
        entry, letter = choice
        trigger = _trigger(body)
        room = Room(tr.PLATFORM, channel, direct=channel.startswith("D"))
        text = entry.command.format(ref=f"L{letter}")
        if entry.opens is not None and trigger is not None:
            if entry.opens == "answer":
                await self._show(trigger, user, room, entry.key, letter)
            elif entry.opens == "edit":
                self.adapter.response_urls.remember(body)
                await self._open_edit(trigger, user, room, letter)
            else:
                await self._call("views.open", self._client.views_open, trigger_id=trigger,
                                 view=views.close_letter(letter, channel))
            return
        self.adapter.response_urls.remember(body)
        await self.adapter.dispatch(Command(
            f"act:{trigger or uuid.uuid4()}", user, room, text,
            tz=await self.adapter.timezone(user.id)))

    async def _open_edit(self, trigger: str, user: User, room: Room, letter: int) -> None:
        """The Edit modal, filled in with what the core answers ``fields L<letter>`` (the
        letter's editable fields, to an organizer); anyone else gets the core's refusal,
        privately, and no form. An answer slower than DECIDE_SECONDS opens the modal as
        being prepared and turns it into the form (or the refusal) when it comes."""
        title = f"Edit L{letter}"
        capture = await self.run(Command(f"act:{trigger}", user, room, f"fields L{letter}",
                                         tz=await self.adapter.timezone(user.id)),
                                 Capture(user, keep_all=True), patient=True)
        if capture.decided.is_set():
            form = self._edit_form(capture, letter, room)
            if form is not None:
                await self._call("views.open", self._client.views_open, trigger_id=trigger,
                                 view=form)
                return
            for reply in capture.kept:  # a refusal, said where they clicked, without the
                # usage of ``fields``, which they did not type
                await self.adapter.sender.send(replace(reply, body=(Said(reply.refused),))
                                               if reply.refused is not None else reply)
            return
        opened = await self._call("views.open", self._client.views_open, trigger_id=trigger,
                                  view=views.preparing(title, text=views.PREPARING_EDIT))
        view_id = tr.map_of(opened.get("view") if opened is not None else None).get("id")
        await self._fill(capture, view_id if isinstance(view_id, str) else None, title,
                         form=lambda done: self._edit_form(done, letter, room))

    @staticmethod
    def _edit_form(capture: Capture, letter: int, room: Room) -> views.View | None:
        editable = next((r.editable for r in capture.kept if r.editable is not None), None)
        if editable is None or editable.letter_id != letter:
            return None
        return views.edit_letter(letter, None if room.id == HOME else room.id,
                                 views.opened_values(editable))

    async def on_close_submission(self, ack: Ack, body: Mapping[str, Any]) -> None:
        """The Close modal confirmed: the letter closes, and the answer (the final list,
        or a refusal) replaces the modal."""
        view, user, trigger = tr.map_of(body.get("view")), _user(body), _trigger(body)
        meta = views.metadata(view)
        letter, channel = meta.get("letter"), meta.get("channel")
        if user is None or trigger is None or not isinstance(letter, int):
            await ack()
            return
        where = channel if isinstance(channel, str) and channel else HOME
        room = Room(tr.PLATFORM, where, direct=where == HOME or where.startswith("D"))
        title = f"L{letter} · close"
        capture = await self.run(Command(f"view:{trigger}", user, room, f"close L{letter}",
                                         tz=await self.adapter.timezone(user.id)),
                                 Capture(user, keep_all=True), patient=True)
        if not capture.decided.is_set():  # the final list is slow: the modal says so
            await ack(response_action="update", view=views.preparing(title))
            view_id = view.get("id")
            self.adapter.spawn(self._fill(capture, view_id if isinstance(view_id, str) else None,
                                          title))
            return
        if not capture.kept:
            await ack()
            return
        await ack(response_action="update",
                  view=views.answer(title, self.answer_blocks(capture.kept)))

    async def _fill(self, capture: Capture, view_id: str | None, title: str, *,
                    form: Callable[[Capture], views.View | None] | None = None) -> None:
        """Modal ``view_id``, shown as being prepared, gets the answer ``capture`` holds
        once it comes (or says that it did not come in time): the view ``form`` makes of
        it where it makes one, else the answer's text. With no modal to show it in, the
        answer goes as a message."""
        if view_id is None:
            capture.decided.set()
            return
        await self.wait(capture, ANSWER_SECONDS)
        shown = form(capture) if form is not None else None
        if shown is None:
            shown = (views.answer(title, self.answer_blocks(capture.kept)) if capture.kept
                     else views.preparing(title, late=True))
        await self._call("views.update", self._client.views_update, view_id=view_id,
                         view=shown)

    @staticmethod
    def answer_blocks(replies: list[Private]) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        for reply in replies:
            text = tr.render(reply.body)
            if reply.attachment is None:
                blocks += tr.blocks(text, None)
                continue
            content = reply.attachment.content.decode("utf-8", "replace")
            for _, more in tr.code_messages(text, content):
                blocks += more
        return blocks

    async def run(self, event: Command, capture: Capture, *, patient: bool = False) -> Capture:
        """Hand ``event`` to the core with its replies to the person captured, and wait
        until the first reply decides (or the event is done, or DECIDE_SECONDS pass); the
        rest of the event goes on in its task. Past DECIDE_SECONDS its answer goes as a
        message, unless ``patient``: then the capture goes on holding it (see ``wait``)."""
        token = CAPTURE.set(capture)
        try:
            task = self.adapter.spawn(self.adapter.dispatch(event))
        finally:
            CAPTURE.reset(token)
        task.add_done_callback(lambda _: capture.decided.set())
        await self.wait(capture, DECIDE_SECONDS, give_up=not patient)
        return capture

    @staticmethod
    async def wait(capture: Capture, seconds: float, *, give_up: bool = True) -> bool:
        """Whether ``capture`` decided within ``seconds``. If not and ``give_up``, it is
        decided now: the rest of the answer goes as messages."""
        try:
            await asyncio.wait_for(capture.decided.wait(), seconds)
            return True
        except TimeoutError:
            if give_up:
                log.warning("Slack: a modal's command took too long; its answer goes as a "
                            "message")
                capture.decided.set()
            return False

    # -- the Home tab ------------------------------------------------------------------------

    async def on_home_opened(self, body: Mapping[str, Any]) -> None:
        event = tr.map_of(body.get("event"))
        user, event_id = event.get("user"), body.get("event_id")
        if event.get("tab", "home") != "home" or not isinstance(user, str) or not user:
            return
        self.home_viewers[user] = self.home_viewers.pop(user, frozenset())
        while len(self.home_viewers) > HOME_VIEWERS:
            self.home_viewers.popitem(last=False)
        await self.refresh_home(user, f"home:{event_id}" if isinstance(event_id, str) else None)

    async def refresh_home(self, user: str, event_id: str | None = None) -> None:
        """Run ``mine`` for ``user``; its answer is published as their Home tab alone."""
        person = User(tr.PLATFORM, user)
        token = CAPTURE.set(Capture(person, home_only=True))
        try:
            await self.adapter.handle(Command(
                event_id or f"home:{uuid.uuid4()}", person, Room(tr.PLATFORM, HOME, direct=True),
                "mine", tz=await self.adapter.timezone(user)))
        finally:
            CAPTURE.reset(token)

    async def publish_home(self, user: str, held: tuple[Held, ...]) -> None:
        if user in self.home_viewers:
            self.home_viewers[user] = frozenset(h.letter_id for h in held if h.organizes)
        await self._call("views.publish", self._client.views_publish, user_id=user,
                         view=views.home(held, self.adapter.config.command))

    def letter_changed(self, letter: int) -> None:
        """An announcement of ``letter`` was posted or edited (a count, a close): bring the
        Home tabs of its organizers who opened theirs up to date. Signers' tabs follow at
        their next opening or action: a signature on a public letter would otherwise
        republish every signer's tab."""
        for user, organizes in list(self.home_viewers.items()):
            if letter in organizes and user not in self._refreshing:
                self._refreshing.add(user)
                self.adapter.spawn(self._refresh_later(user))

    async def _refresh_later(self, user: str) -> None:
        try:
            await self.refresh_home(user)
        finally:
            self._refreshing.discard(user)

    async def on_home_click(self, body: Mapping[str, Any]) -> None:
        """A Home tab button. Close asks first, in a modal; the others run their command,
        and its answer (a list, an export, a confirmation) opens in a modal."""
        choice, user, trigger = views.home_choice(body), _user(body), _trigger(body)
        if choice is None or user is None or trigger is None:
            return
        action_id, letter = choice
        if action_id == views.HOME_CLOSE:
            await self._call("views.open", self._client.views_open, trigger_id=trigger,
                             view=views.close_letter(letter, None))
            return
        word = views.HOME_ACTIONS[action_id]
        await self._show(trigger, user, Room(tr.PLATFORM, HOME, direct=True), word, letter)

    async def _show(self, trigger: str, user: User, room: Room, word: str, letter: int) -> None:
        """Run the person's ``word L<letter>``; its answer (a list, an export, the final
        block, a confirmation or a refusal) opens in a modal, in no message's history.
        Slack honours a trigger for 3 s: an answer slower than DECIDE_SECONDS (a long
        signature block, each signer's display name asked of Slack as it is made) opens a
        modal that says it is being prepared, and fills it when it comes."""
        title = f"L{letter} · {word}"
        capture = await self.run(Command(f"act:{trigger}", user, room, f"{word} L{letter}",
                                         tz=await self.adapter.timezone(user.id)),
                                 Capture(user, keep_all=True), patient=True)
        if capture.decided.is_set():
            if capture.kept:
                await self._call("views.open", self._client.views_open, trigger_id=trigger,
                                 view=views.answer(title, self.answer_blocks(capture.kept)))
            return
        opened = await self._call("views.open", self._client.views_open, trigger_id=trigger,
                                  view=views.preparing(title))
        view_id = tr.map_of(opened.get("view") if opened is not None else None).get("id")
        await self._fill(capture, view_id if isinstance(view_id, str) else None, title)

    # -- what the adapter sends ------------------------------------------------------------

    async def intercept(self, reply: Reply) -> bool:
        """Whether ``reply`` was shown on a surface (or held) instead of sent as a message."""
        capture = CAPTURE.get()
        if isinstance(reply, Post | Edit) and reply.announces is not None:
            self.letter_changed(reply.announces)
        if (isinstance(reply, Private) and reply.overview is not None
                and reply.user.platform == tr.PLATFORM):
            await self.publish_home(reply.user.id, reply.overview)
            if capture is not None and capture.home_only:
                return True
        if capture is None:
            return False
        if capture.keeps(reply):
            return True
        capture.decided.set()
        return False
