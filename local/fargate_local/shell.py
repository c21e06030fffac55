"""The simple shell the emulator plays: what a container's command prints, when, and how it exits.

Pure: ``play(entry_point, command, environment)`` reads the argv Docker would run (``entryPoint``
then ``command``) and answers a ``Play`` — the lines the container prints, each at the emulated
second it prints it, its exit code and how long it runs — or None when the command is more than
this player knows (the emulator then does what it does for any image it cannot run).

Played: ``sh -c``, ``/bin/sh -c``, ``bash -c`` (and ``/bin/bash``, ``/usr/bin/env``-less) scripts and
a direct argv of one of the programs below. Programs: ``echo`` (``-n``), ``printf`` (``%s %d %%``
and the escapes ``\\n \\t \\\\``, the format reused while arguments remain), ``sleep N`` (seconds,
or ``Ns``/``Nm``/``Nh``; ``infinity``), ``exit N`` (in a script), ``true``, ``false``, ``:``. Lists:
``;``, newlines, ``&&``, ``||`` (and-or lists, left to right as sh reads them), ``#`` comments.
Words: ``'…'``, ``"…"`` and backslash quoting; ``$VAR`` and ``${VAR}`` of the container's
environment (a variable it does not set, or an unquoted value that would split, is not played).
Not played: pipes, redirections, background ``&``, subshells and groups, ``$(…)`` and backticks,
globs, ``if``/``for``/``while``, assignments, special parameters (``$?``, ``$1``…), any other program.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

SHELLS = ("sh", "bash", "ash", "dash")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SLEEP = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([smh]?)$")
_UNQUOTED_SPECIAL = set("|&;<>()`*?[]{}~")
_SPECIAL_WORD_START = set("#~")
_PROGRAMS = ("echo", "printf", "sleep", "true", "false")


class NotPlayable(Exception):
    """The command is more than the player knows."""


@dataclass
class Play:
    """What a container's command does: ``lines`` as (emulated seconds after its start, line)."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    exit_code: int = 0
    seconds: float = 0.0  # emulated run time; math.inf: it never ends on its own (sleep infinity)


def argv_of(entry_point: list[str] | None, command: list[str] | None) -> list[str] | None:
    """What Docker runs: the entry point followed by the command; None when neither is set (the
    image's own default, which the emulator cannot know) or when they are not lists of strings."""
    argv: list[str] = []
    for part in (entry_point, command):
        if part is None:
            continue
        if not isinstance(part, list) or not all(isinstance(word, str) for word in part):
            return None
        argv += part
    return argv or None


def play(
    entry_point: list[str] | None, command: list[str] | None, environment: dict[str, str] | None = None
) -> Play | None:
    """The container's play, or None when its command is not one the emulator plays."""
    argv = argv_of(entry_point, command)
    if argv is None:
        return None
    player = _Player(environment or {})
    try:
        program = argv[0].rsplit("/", 1)[-1] if argv[0].startswith("/") else argv[0]
        if program in SHELLS and len(argv) >= 3 and argv[1] == "-c":
            player.script(argv[2])
        elif program in SHELLS:
            raise NotPlayable("a shell without -c")
        else:
            player.status = player.run(argv, in_shell=False)
    except NotPlayable:
        return None
    except _Exit as done:
        player.status = done.code
    except _Forever:
        player.now = math.inf
    player.flush()
    return Play(lines=player.lines, exit_code=player.status, seconds=player.now)


class _Forever(Exception):
    """``sleep infinity``: nothing after it ever runs."""


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Player:
    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.now = 0.0
        self.status = 0
        self.lines: list[tuple[float, str]] = []
        self.pending = ""  # printed without a newline yet

    # ------------------------------------------------------------------ output and programs

    def write(self, text: str) -> None:
        *complete, self.pending = (self.pending + text).split("\n")
        for line in complete:
            if line:  # CloudWatch Logs takes no empty events
                self.lines.append((self.now, line))

    def flush(self) -> None:
        if self.pending:
            self.lines.append((self.now, self.pending))  # the log driver sends a last partial line
        self.pending = ""

    def run(self, argv: list[str], in_shell: bool) -> int:
        name, args = argv[0], argv[1:]
        if name.startswith(("/bin/", "/usr/bin/")) and name.rsplit("/", 1)[-1] in _PROGRAMS:
            name = name.rsplit("/", 1)[-1]
        if name == "echo":
            newline = True
            if args and args[0] == "-n":
                newline, args = False, args[1:]
            if args and re.fullmatch(r"-[neE]+", args[0]):
                raise NotPlayable("echo options")
            self.write(" ".join(args) + ("\n" if newline else ""))
            return 0
        if name == "printf":
            self.write(_printf(args))
            return 0
        if name == "sleep":
            if len(args) != 1:
                raise NotPlayable("sleep takes one duration here")
            if args[0] == "infinity":
                self.flush()
                raise _Forever
            match = _SLEEP.match(args[0])
            if not match:
                raise NotPlayable(f"sleep {args[0]}")
            self.now += float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
            return 0
        if name in ("true", ":") and not (name == ":" and not in_shell):
            return 0
        if name == "false":
            return 1
        if name == "exit" and in_shell:
            if len(args) > 1:
                raise NotPlayable("exit takes one code")
            if args and not args[0].isdigit():
                raise NotPlayable(f"exit {args[0]}")
            raise _Exit(int(args[0]) % 256 if args else self.status)
        raise NotPlayable(f"program {name}")

    # ------------------------------------------------------------------ the script

    def script(self, text: str) -> None:
        """Run ``text`` as sh would: lists of and-or lists of simple commands."""
        for and_or in _parse(text, self.environment):
            (first, *rest) = and_or
            self.status = self.run(first[1], in_shell=True)
            for operator, argv in rest:
                if (operator == "&&") == (self.status == 0):
                    self.status = self.run(argv, in_shell=True)


def _printf(args: list[str]) -> str:
    if not args:
        raise NotPlayable("printf without a format")
    fmt, values = args[0], args[1:]
    out: list[str] = []
    while True:
        used = 0
        i = 0
        while i < len(fmt):
            char = fmt[i]
            if char == "\\" and i + 1 < len(fmt):
                escape = fmt[i + 1]
                if escape not in "nt\\\"'":
                    raise NotPlayable(f"printf escape \\{escape}")
                out.append({"n": "\n", "t": "\t"}.get(escape, escape))
                i += 2
                continue
            if char == "%":
                conversion = fmt[i + 1] if i + 1 < len(fmt) else ""
                if conversion == "%":
                    out.append("%")
                elif conversion in ("s", "d"):
                    value = values[used] if used < len(values) else ""
                    used += 1
                    if conversion == "d":
                        if value and not re.fullmatch(r"[+-]?\d+", value):
                            raise NotPlayable(f"printf %d of {value!r}")
                        value = str(int(value or "0"))
                    out.append(value)
                else:
                    raise NotPlayable(f"printf %{conversion}")
                i += 2
                continue
            out.append(char)
            i += 1
        values = values[used:]
        if not values or not used:
            return "".join(out)


# ---------------------------------------------------------------------- parsing

Command = tuple[str, list[str]]  # (the operator before it: "", "&&" or "||"; argv)


def _parse(text: str, environment: dict[str, str]) -> list[list[Command]]:
    """The script's and-or lists; NotPlayable for anything beyond simple commands."""
    lists: list[list[Command]] = []
    current: list[Command] = []
    words: list[str] = []
    operator = ""
    i, n = 0, len(text)

    def end_command(next_operator: str | None) -> None:
        nonlocal words, operator, current
        if words:
            current.append((operator, words))
        elif next_operator is not None or operator:
            raise NotPlayable("an operator without a command")
        words = []
        if next_operator is None:  # ; or a newline: the and-or list ends
            if current:
                lists.append(current)
            current, operator = [], ""
        else:
            operator = next_operator

    while i < n:
        char = text[i]
        if char in " \t":
            i += 1
        elif char == "\n" and operator and not words:
            i += 1  # a list goes on after && or || and a newline
        elif char in ";\n":
            if char == ";" and text.startswith(";;", i):
                raise NotPlayable(";;")
            if char == ";" and not words:
                raise NotPlayable("an empty command before ;")
            end_command(None)
            i += 1
        elif text.startswith("&&", i) or text.startswith("||", i):
            end_command(text[i : i + 2])
            i += 2
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        else:
            word, i = _word(text, i, environment)
            if word is not None:
                words.append(word)
    if operator and not words:
        raise NotPlayable("a script ending with an operator")
    end_command(None)
    for and_or in lists:
        for _, argv in and_or:
            if "=" in argv[0] and _NAME.fullmatch(argv[0].split("=", 1)[0]):
                raise NotPlayable("an assignment")
    return lists


def _word(text: str, i: int, environment: dict[str, str]) -> tuple[str | None, int]:
    """One word from ``text[i]``: quotes removed, variables expanded; (None, i) for an unquoted
    expansion to nothing (sh drops that word)."""
    n = len(text)
    parts: list[str] = []
    quoted = False
    if text[i] in _SPECIAL_WORD_START:
        raise NotPlayable(f"a word starting with {text[i]}")
    while i < n and text[i] not in " \t\n;":
        char = text[i]
        if text.startswith("&&", i) or text.startswith("||", i):
            break
        if char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise NotPlayable("an unterminated quote")
            parts.append(text[i + 1 : end])
            quoted, i = True, end + 1
        elif char == '"':
            i += 1
            while True:
                if i >= n:
                    raise NotPlayable("an unterminated quote")
                char = text[i]
                if char == '"':
                    i += 1
                    break
                if char == "\\" and i + 1 < n and text[i + 1] in '"\\$`\n':
                    if text[i + 1] != "\n":
                        parts.append(text[i + 1])
                    i += 2
                elif char == "$":
                    value, i = _variable(text, i, environment)
                    parts.append(value)
                elif char == "`":
                    raise NotPlayable("command substitution")
                else:
                    parts.append(char)
                    i += 1
            quoted = True
        elif char == "\\":
            if i + 1 >= n:
                raise NotPlayable("a trailing backslash")
            if text[i + 1] != "\n":
                parts.append(text[i + 1])
            quoted, i = True, i + 2
        elif char == "$":
            value, i = _variable(text, i, environment)
            if not value or any(c.isspace() or c in "*?[" for c in value):
                raise NotPlayable("an unquoted expansion sh would split or glob")
            parts.append(value)
        elif char in _UNQUOTED_SPECIAL:
            raise NotPlayable(f"the shell syntax {char}")
        else:
            parts.append(char)
            i += 1
    word = "".join(parts)
    return (word if word or quoted else None), i


def _variable(text: str, i: int, environment: dict[str, str]) -> tuple[str, int]:
    """``$NAME`` or ``${NAME}`` at ``text[i]`` from the container's environment."""
    if text.startswith("${", i):
        end = text.find("}", i + 2)
        name = text[i + 2 : end] if end >= 0 else ""
        after = end + 1
    else:
        match = _NAME.match(text, i + 1)
        name = match.group(0) if match else ""
        after = match.end() if match else i + 1
    if not _NAME.fullmatch(name) or name not in environment:
        raise NotPlayable(f"the expansion {text[i : max(after, i + 2)]}")
    return environment[name], after
