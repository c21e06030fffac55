"""Benchmark: the best any launcher could do with spot_fleet.py's set-up (a simulation, not the emulator).

    .venv/bin/python benchmarks/spot_fleet_ideal.py [--runs 500] [--shards 200] [--quota 40]

``spot_fleet.py`` measures our operators against the emulator. This asks what the set-up itself
allows: an ideal launcher that sees every slot free the instant it frees, never waits for a poll, a
backoff or a throttle, and starts re-runs before fresh shards. The emulator's timings
(``fargate_local.behaviours.Timing``: provisioning, pending, stopping), the 30-s Spot shortage, the
20 % interruption rate 30 s after RUNNING and the two quotas are spot_fleet.py's; the costs are
``fargate_cost``'s (per second, one-minute minimum, Spot at its published discount).

Policies, each over ``--runs`` seeds (the interruptions drawn at random, as the emulator draws them):
* ``spot_then_on_demand`` as the operators run it: Spot, a second interruption moves the shard to
  on-demand;
* the same, with the re-runs on on-demand once no fresh shard waits, and with the last K starts on
  on-demand too (a launcher that knows the whole fleet and how much of it is left; the operators, one
  per shard, do not).

Printed per policy: wall time against spot_fleet.py's lower bound (mean, 10th and 90th percentile)
and cost against all-on-demand. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from dataclasses import dataclass

from spot_fleet import CPU, INTERRUPT_AFTER, INTERRUPTION_RATE, MEMORY, SPOT_MISSING, VCPU


@dataclass
class Outcome:
    wall: float
    usd: float
    on_demand_tasks: int


def simulate(
    seed: int, *, shards: int, quota: float, job: float, last_on_demand: int = 0, tail_reruns: bool = False
) -> Outcome:
    """One fleet; ``last_on_demand``: the last that many starts go on-demand; ``tail_reruns``: a re-run
    goes on-demand once no fresh shard waits."""
    from fargate_local.behaviours import Timing
    from fargate_provider.utils.pricing import fargate_cost

    timing = Timing()
    ready = timing.provisioning + timing.pending  # RunTask to RUNNING
    holds = {False: ready + job + timing.stopping, True: ready + INTERRUPT_AFTER + timing.stopping}
    billed = {False: job + timing.pending + timing.stopping, True: INTERRUPT_AFTER + timing.pending + timing.stopping}
    rng = random.Random(seed)
    at_once = max(math.floor(quota / VCPU), 1)
    free = {"spot": at_once, "on_demand": at_once}
    fresh, reruns = list(range(shards)), []
    interruptions = [0] * shards
    events: list[tuple[float, int, str, bool]] = [(SPOT_MISSING, -1, "", False)]  # Spot's return
    usd, on_demand_tasks, wall = 0.0, 0, 0.0

    def launch(now: float) -> None:
        nonlocal usd, on_demand_tasks
        while fresh or reruns:
            queue = reruns or fresh
            shard = queue[0]
            in_tail = len(fresh) + len(reruns) <= last_on_demand or (tail_reruns and queue is reruns and not fresh)
            on_demand = interruptions[shard] > 1 or in_tail
            capacity = "on_demand" if on_demand else "spot"
            if free[capacity] == 0 or (capacity == "spot" and now < SPOT_MISSING):
                return
            queue.pop(0)
            free[capacity] -= 1
            interrupted = capacity == "spot" and rng.random() < INTERRUPTION_RATE
            usd += fargate_cost(CPU, MEMORY, billed[interrupted], spot=capacity == "spot").usd
            on_demand_tasks += capacity == "on_demand"
            heapq.heappush(events, (now + holds[interrupted], shard, capacity, interrupted))

    launch(0.0)
    while events:
        now, shard, capacity, interrupted = heapq.heappop(events)
        if capacity:
            free[capacity] += 1
            if interrupted:
                interruptions[shard] += 1
                reruns.append(shard)
            else:
                wall = max(wall, now)
        launch(now)
    return Outcome(wall, usd, on_demand_tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--quota", type=float, default=40.0)
    parser.add_argument("--job", type=float, default=60.0)
    args = parser.parse_args()

    from fargate_local.behaviours import Timing
    from fargate_provider.utils.pricing import fargate_cost

    timing = Timing()
    occupancy = timing.provisioning + timing.pending + args.job + timing.stopping
    at_once = max(math.floor(args.quota / VCPU), 1)
    bound = SPOT_MISSING + math.ceil(args.shards / at_once) * occupancy
    all_on_demand = args.shards * fargate_cost(CPU, MEMORY, args.job + timing.pending + timing.stopping).usd
    print(
        f"spot_fleet_ideal: {args.shards} shards, quota {args.quota:g} + {args.quota:g} vCPUs, a task holds its "
        f"vCPUs {occupancy:g} s; lower bound {bound:g} s; {args.runs} runs per policy"
    )
    policies = [("", {})]
    policies.append((" + re-runs on-demand once no fresh shard waits", {"tail_reruns": True}))
    for last in (6, 10, 20, 30):
        policies.append((f" + that + the last {last} starts on-demand", {"tail_reruns": True, "last_on_demand": last}))
    for name, policy in policies:
        outcomes = [
            simulate(seed, shards=args.shards, quota=args.quota, job=args.job, **policy) for seed in range(args.runs)
        ]
        ratios = sorted(o.wall / bound for o in outcomes)
        deciles = statistics.quantiles(ratios, n=10)
        print(
            f"  spot_then_on_demand{name}: wall {statistics.mean(o.wall for o in outcomes):.0f} s, ratio mean "
            f"{statistics.mean(ratios):.2f} (p10 {deciles[0]:.2f}, p90 {deciles[-1]:.2f}); cost "
            f"{statistics.mean(o.usd for o in outcomes) / all_on_demand:.1%} of all-on-demand; on-demand tasks "
            f"{statistics.mean(o.on_demand_tasks for o in outcomes):.1f}"
        )


if __name__ == "__main__":
    main()
