"""Fargate task sizes: the cpu/memory pairs Fargate accepts, and the string forms ECS takes.

Kept apart from task-definition validation because run-task overrides, pricing and the
UI form need the same table.
"""

from __future__ import annotations

import re

from fargate_rules.input_errors import InputError

# cpu units -> allowed memory in MiB (AWS "Task CPU and memory" table for Fargate).
FARGATE_MEMORY_BY_CPU: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

_CPU_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(vcpus?)?\s*$", re.IGNORECASE)
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(gb|gib|mb|mib)?\s*$", re.IGNORECASE)


class SizeError(InputError):
    """A cpu or memory value that is not a Fargate size; the message says what is allowed."""


def _parse_quantity(value: int | str, pattern: re.Pattern[str], what: str, hint: str) -> int:
    """An integer as is; a string "N" or "N <big unit>" (the unit multiplies by 1024)."""
    if isinstance(value, bool):
        raise SizeError(f"{value!r} is not a {what} value; use {hint}")
    if isinstance(value, int):
        return value
    match = pattern.match(str(value))
    if not match:
        raise SizeError(f"{value!r} is not a {what} value; use {hint}")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    amount = number * 1024 if unit and not unit.startswith("m") else number
    if amount != int(amount):
        raise SizeError(f"{value!r} is not a whole number of {'CPU units' if what == 'cpu' else 'MiB'}")
    return int(amount)


def parse_cpu(value: int | str) -> int:
    """CPU units from 256, "256", "1 vCPU" or "0.25 vcpu" (as ECS accepts them)."""
    return _parse_quantity(value, _CPU_RE, "cpu", "CPU units (e.g. '1024') or 'N vCPU' (e.g. '1 vCPU')")


def parse_memory(value: int | str) -> int:
    """Memory in MiB from 2048, "2048", "2 GB" or "0.5GB" (as ECS accepts them)."""
    return _parse_quantity(value, _MEMORY_RE, "memory", "MiB (e.g. '2048') or 'N GB' (e.g. '2 GB')")


def _describe_memory(memories: tuple[int, ...]) -> str:
    if len(memories) <= 3:
        return ", ".join(str(m) for m in memories)
    step = memories[1] - memories[0]
    return f"{memories[0]}-{memories[-1]} in steps of {step}"


def check_fargate_size(cpu: int, memory: int) -> None:
    """Raise SizeError unless (cpu, memory) is a pair Fargate runs."""
    if cpu not in FARGATE_MEMORY_BY_CPU:
        allowed = ", ".join(str(c) for c in FARGATE_MEMORY_BY_CPU)
        raise SizeError(f"cpu {cpu} is not a Fargate size; allowed cpu units: {allowed}")
    memories = FARGATE_MEMORY_BY_CPU[cpu]
    if memory not in memories:
        raise SizeError(
            f"memory {memory} MiB does not fit cpu {cpu}; with cpu {cpu} Fargate allows memory "
            f"{_describe_memory(memories)} MiB"
        )


def fargate_sizes() -> list[tuple[int, int]]:
    """Every valid (cpu, memory) pair, smallest first."""
    return [(cpu, memory) for cpu, memories in FARGATE_MEMORY_BY_CPU.items() for memory in memories]


def size_choice(cpu: int, memory: int) -> str:
    """The form value of a size: "cpu/memory" in ECS units, e.g. "256/512"."""
    return f"{cpu}/{memory}"


def size_label(cpu: int, memory: int) -> str:
    """How people say a size: "0.25 vCPU, 0.5 GB"."""
    return f"{cpu / 1024:g} vCPU, {memory / 1024:g} GB"


def parse_size_choice(value: str, field: str = "size") -> tuple[int, int]:
    """(cpu, memory) from a form value "cpu/memory"; SizeError naming ``field`` unless Fargate runs it."""
    cpu_text, _, memory_text = str(value).partition("/")
    try:
        cpu, memory = parse_cpu(cpu_text), parse_memory(memory_text)
        check_fargate_size(cpu, memory)
    except SizeError as err:
        raise SizeError(
            f"{field}: {value!r} is not a Fargate size ({err}); give 'cpu/memory', e.g. '256/512'"
        ) from None
    return cpu, memory
