"""Cost figures against hand-computed values."""

import datetime as dt

import pytest

from fargate_provider.utils.pricing import (
    PriceNotKnown,
    fargate_cost,
    price_table,
    rates,
    task_cost,
    total_cost,
)

# us-east-1 Linux rates: x86 0.04048 / 0.004445, ARM 0.03238 / 0.00356 (per vCPU-hour / GB-hour)
CASES = [
    # cpu, memory, seconds, architecture, billed s, vCPU-s, GB-s, USD by hand
    (256, 512, 90, "X86_64", 90, 22.5, 45.0, 22.5 / 3600 * 0.04048 + 45.0 / 3600 * 0.004445),
    (1024, 2048, 3600, "X86_64", 3600, 3600.0, 7200.0, 1 * 0.04048 + 2 * 0.004445),
    (4096, 30720, 600.2, "X86_64", 601, 2404.0, 18030.0, 2404 / 3600 * 0.04048 + 18030 / 3600 * 0.004445),
    (256, 512, 90, "ARM64", 90, 22.5, 45.0, 22.5 / 3600 * 0.03238 + 45.0 / 3600 * 0.00356),
    (1024, 2048, 3600, "ARM64", 3600, 3600.0, 7200.0, 1 * 0.03238 + 2 * 0.00356),
    (4096, 30720, 600.2, "ARM64", 601, 2404.0, 18030.0, 2404 / 3600 * 0.03238 + 18030 / 3600 * 0.00356),
]


@pytest.mark.parametrize("cpu, memory, seconds, arch, billed, vcpu_s, gb_s, usd", CASES)
def test_cost_equals_hand_computed(cpu, memory, seconds, arch, billed, vcpu_s, gb_s, usd):
    cost = fargate_cost(cpu, memory, seconds, architecture=arch)
    assert (cost.billed_seconds, cost.vcpu_seconds, cost.gb_seconds) == (billed, vcpu_s, gb_s)
    assert cost.usd == pytest.approx(usd, rel=1e-12)


def test_one_minute_minimum_and_string_sizes():
    cost = fargate_cost("0.25 vCPU", "0.5 GB", 3)
    assert cost.billed_seconds == 60 and cost.vcpu_seconds == 15.0 and cost.gb_seconds == 30.0


def test_task_cost_bills_from_pull_start_to_stop_and_sums():
    start = dt.datetime(2026, 11, 28, 10, 0, 0, tzinfo=dt.UTC)
    task = {
        "cpu": "512",
        "memory": "1024",
        "pullStartedAt": start,
        "startedAt": start + dt.timedelta(seconds=20),
        "stoppedAt": start + dt.timedelta(seconds=120),
    }
    cost = task_cost(task, region="us-east-1")
    assert cost.billed_seconds == 120 and cost.vcpu_seconds == 60.0 and cost.gb_seconds == 120.0
    both = total_cost([task, {**task, "capacityProviderName": "FARGATE_SPOT"}], region="us-east-1")
    assert both.tasks == 2 and both.vcpu_seconds == 120.0 and both.spot is True and both.spot_tasks == 1
    # the Spot task at the table's Spot rates, the on-demand equivalent at on-demand rates
    spot = price_table()["spot"]["regions"]["us-east-1"]["X86_64"]
    spot_usd = 60.0 / 3600 * spot["vcpu_hour"] + 120.0 / 3600 * spot["gb_hour"]
    assert both.usd == pytest.approx(cost.usd + spot_usd)
    assert both.on_demand_usd == pytest.approx(2 * cost.usd)
    assert both.saving_usd == pytest.approx(cost.usd - spot_usd) and both.saving_usd > 0
    assert both.as_dict()["saving_usd"] == pytest.approx(cost.usd - spot_usd, abs=1e-8)


def test_spot_prices_only_x86_64_and_known_regions():
    with pytest.raises(PriceNotKnown, match="Fargate Spot runs only X86_64 tasks"):
        fargate_cost(256, 512, 60, architecture="ARM64", spot=True)
    with pytest.raises(PriceNotKnown, match="region: no Fargate Spot price for 'eu-north-1'"):
        rates("eu-north-1", spot=True)


def test_unknown_region_or_architecture_is_a_clear_error():
    with pytest.raises(PriceNotKnown, match="region: no Fargate price for 'xx-moon-1'"):
        fargate_cost(256, 512, 60, region="xx-moon-1")
    with pytest.raises(PriceNotKnown, match="allowed: X86_64, ARM64"):
        fargate_cost(256, 512, 60, architecture="POWER")


def test_price_table_carries_its_source_and_date():
    table = price_table()
    assert table["source"] and table["retrieved"] == "2026-11-28"
    assert table["regions"]["us-east-1"]["X86_64"] == {"vcpu_hour": 0.04048, "gb_hour": 0.004445}
