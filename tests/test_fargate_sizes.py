import pytest

from fargate_rules.sizes import (
    SizeError,
    check_fargate_size,
    fargate_sizes,
    parse_cpu,
    parse_memory,
)


@pytest.mark.parametrize(
    "text, units",
    [
        ("256", 256),
        (256, 256),
        ("1 vCPU", 1024),
        ("0.25 vcpu", 256),
        ("2vCPU", 2048),
        ("16 vCPU", 16384),
        (" 512 ", 512),
    ],
)
def test_cpu_string_forms(text, units):
    assert parse_cpu(text) == units


@pytest.mark.parametrize(
    "text, mib", [("512", 512), (512, 512), ("2 GB", 2048), ("2GB", 2048), ("0.5 GB", 512), ("120 GB", 122880)]
)
def test_memory_string_forms(text, mib):
    assert parse_memory(text) == mib


@pytest.mark.parametrize("bad", ["one vCPU", "", "1.1 vcpu", True, "256 MB"])
def test_cpu_garbage_is_refused(bad):
    with pytest.raises(SizeError):
        parse_cpu(bad)


@pytest.mark.parametrize(
    "cpu, memory",
    [
        (256, 512),
        (256, 2048),
        (512, 1024),
        (512, 4096),
        (1024, 8192),
        (2048, 16384),
        (4096, 30720),
        (8192, 16384),
        (8192, 61440),
        (16384, 32768),
        (16384, 122880),
        (4096, 9216),
    ],
)
def test_valid_pairs(cpu, memory):
    check_fargate_size(cpu, memory)


@pytest.mark.parametrize(
    "cpu, memory, allowed",
    [
        (256, 4096, "512, 1024, 2048"),
        (512, 512, "1024-4096 in steps of 1024"),
        (4096, 31744, "8192-30720 in steps of 1024"),
        (8192, 20000, "16384-61440 in steps of 4096"),
        (16384, 36864, "32768-122880 in steps of 8192"),
    ],
)
def test_invalid_pairs_say_what_is_allowed(cpu, memory, allowed):
    with pytest.raises(SizeError, match=allowed):
        check_fargate_size(cpu, memory)


def test_unknown_cpu_lists_allowed_units():
    with pytest.raises(SizeError, match="256, 512, 1024, 2048, 4096, 8192, 16384"):
        check_fargate_size(300, 512)


def test_size_table_counts():
    sizes = fargate_sizes()
    # 3 + 4 + 7 + 13 + 23 + 12 + 12, from AWS's Fargate task size table
    assert len(sizes) == 74
    assert sizes[0] == (256, 512) and sizes[-1] == (16384, 122880)
