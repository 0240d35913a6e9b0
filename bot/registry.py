"""How commands declare themselves, and the registry the composition root hands the core.

Each command module has a ``Router`` (as aiogram's routers) whose decorators declare its
subcommands — who may run them, what they take, their hourly limit and their place in
``help`` — and its handlers for reactions and for the scheduler's events. ``Registry``
joins the routers it is given: nothing registers itself by being imported, and the core
imports no command module.

The dispatcher resolves what a command declares it takes and hands it over typed: a
``Letter`` (``LetterSpec``), a letter or None when the id may be left out
(``MaybeLetterSpec``), a review or reminder (``ReminderSpec``), or nothing more than the
arguments (``PlainSpec``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from bot.events import DueKind, Reaction
from bot.model import Letter, Scheduled
from bot.syntax import Token

if TYPE_CHECKING:
    from bot.context import Context, RoomContext

# "anyone": no check (signing works from any room, a direct message above all);
# "viewer": whoever may see the letter: in a room where it is announced, or its
# organizers and signers wherever they ask (elsewhere the letter does not exist);
# "organizer": its organizers and the admins.
Role = Literal["anyone", "viewer", "organizer"]
# The hourly limits of bot.limits: commands that share a bucket share its count.
Limit = Literal["new", "export", "remind"]

PlainRun: TypeAlias = Callable[["RoomContext", list[Token]], Awaitable[None]]
LetterRun: TypeAlias = Callable[["RoomContext", Letter, list[Token]], Awaitable[None]]
MaybeLetterRun: TypeAlias = Callable[["RoomContext", Letter | None, list[Token]],
                                     Awaitable[None]]
ReminderRun: TypeAlias = Callable[["RoomContext", Scheduled, list[Token]], Awaitable[None]]
ReactionRun: TypeAlias = Callable[["RoomContext", Reaction], Awaitable[None]]
DueRun: TypeAlias = Callable[["Context", "int | None"], Awaitable[None]]


@dataclass(frozen=True)
class Spec:
    """What every subcommand declares. ``reads_only``: it changes nothing, so it is
    answered even while the database refuses writes. ``not_in_direct``: the reply that
    refuses it in a direct room, before anything else (it would store that room, which
    names one person, or post into it later). ``order``: its place in ``help``."""

    name: str
    usage: str
    summary: str
    role: Role
    order: int
    reads_only: bool = False
    not_in_direct: str | None = None
    limit: Limit | None = None


@dataclass(frozen=True)
class PlainSpec(Spec):
    run: PlainRun | None = None


@dataclass(frozen=True)
class LetterSpec(Spec):
    run: LetterRun | None = None


@dataclass(frozen=True)
class MaybeLetterSpec(Spec):
    """The L<n> may be left out (``reminders [L<n>]``): the command then gets None."""

    run: MaybeLetterRun | None = None


@dataclass(frozen=True)
class ReminderSpec(Spec):
    run: ReminderRun | None = None


AnySpec: TypeAlias = PlainSpec | LetterSpec | MaybeLetterSpec | ReminderSpec


@dataclass
class Router:
    """One command module's declarations."""

    specs: list[AnySpec] = field(default_factory=list)
    reactions: list[ReactionRun] = field(default_factory=list)
    dues: dict[DueKind, DueRun] = field(default_factory=dict)

    def command(self, name: str, usage: str, summary: str, *, order: int,
                reads_only: bool = False, not_in_direct: str | None = None,
                limit: Limit | None = None) -> Callable[[PlainRun], PlainRun]:
        """A subcommand open to anyone that names no letter."""

        def register(run: PlainRun) -> PlainRun:
            self.specs.append(PlainSpec(name, usage, summary, "anyone", order, reads_only,
                                        not_in_direct, limit, run))
            return run

        return register

    def letter_command(self, name: str, usage: str, summary: str, *, order: int,
                       role: Role = "anyone", reads_only: bool = False,
                       not_in_direct: str | None = None,
                       limit: Limit | None = None) -> Callable[[LetterRun], LetterRun]:
        """A subcommand whose first argument is L<n>, resolved and checked against
        ``role`` by the dispatcher, which hands the command the letter."""

        def register(run: LetterRun) -> LetterRun:
            self.specs.append(LetterSpec(name, usage, summary, role, order, reads_only,
                                         not_in_direct, limit, run))
            return run

        return register

    def maybe_letter_command(self, name: str, usage: str, summary: str, *, order: int,
                             role: Role = "viewer", reads_only: bool = False,
                             ) -> Callable[[MaybeLetterRun], MaybeLetterRun]:
        """Like ``letter_command``, but the L<n> may be left out: the command gets None."""

        def register(run: MaybeLetterRun) -> MaybeLetterRun:
            self.specs.append(MaybeLetterSpec(name, usage, summary, role, order, reads_only,
                                              None, None, run))
            return run

        return register

    def reminder_command(self, name: str, usage: str, summary: str, *, order: int,
                         role: Role = "organizer") -> Callable[[ReminderRun], ReminderRun]:
        """A subcommand whose first argument is R<n>; its letter decides who may."""

        def register(run: ReminderRun) -> ReminderRun:
            self.specs.append(ReminderSpec(name, usage, summary, role, order, run=run))
            return run

        return register

    def reaction(self, run: ReactionRun) -> ReactionRun:
        self.reactions.append(run)
        return run

    def due(self, kind: DueKind) -> Callable[[DueRun], DueRun]:
        """The handler of one kind of the scheduler's events."""

        def register(run: DueRun) -> DueRun:
            self.dues[kind] = run
            return run

        return register


class Registry:
    """Every subcommand, reaction handler and timer handler, joined from routers."""

    def __init__(self, routers: Iterable[Router]) -> None:
        self.commands: dict[str, AnySpec] = {}
        self.reactions: list[ReactionRun] = []
        self.dues: dict[DueKind, DueRun] = {}
        for router in routers:
            for spec in router.specs:
                if spec.name in self.commands:
                    raise ValueError(f"the subcommand {spec.name!r} is declared twice")
                self.commands[spec.name] = spec
            self.reactions += router.reactions
            for kind, run in router.dues.items():
                if kind in self.dues:
                    raise ValueError(f"the timer {kind!r} has two handlers")
                self.dues[kind] = run

    def get(self, name: str) -> AnySpec | None:
        return self.commands.get(name)

