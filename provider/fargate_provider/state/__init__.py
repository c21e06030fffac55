"""Judging ECS state: services (stable, failed rollouts) and one-off tasks (exit codes, logs)."""
