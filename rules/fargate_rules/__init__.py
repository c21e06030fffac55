"""ECS's rules for Fargate in one pure package: no Airflow, no moto (tests/test_package_boundaries.py).

The provider's validator and preflight and the local emulator all read these modules, so a rule is
written once and the three cannot drift.
"""
