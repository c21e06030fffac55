"""What Airflow's providers manager reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fargate_provider.settings import provider_config

INTEGRATION = "Amazon ECS on Fargate"


def _version() -> str:
    try:
        return version("airflow-provider-fargate")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-fargate",
        "name": "Fargate",
        "description": (
            "Run containers on AWS ECS with Fargate: task definitions, clusters, services and one-off tasks."
        ),
        "versions": [_version()],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate.html",
                "tags": ["aws"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["fargate_provider.hooks.fargate"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "fargate_provider.operators.cluster",
                    "fargate_provider.operators.preflight",
                    "fargate_provider.operators.run_task",
                    "fargate_provider.operators.service",
                    "fargate_provider.operators.task_definition",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["fargate_provider.sensors.service", "fargate_provider.sensors.task"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["fargate_provider.triggers.service", "fargate_provider.triggers.task"],
            }
        ],
        "config": provider_config(),
        "extra-links": [
            "fargate_provider.links.ecs.EcsClusterLink",
            "fargate_provider.links.ecs.EcsServiceLink",
            "fargate_provider.links.ecs.EcsTaskLink",
            "fargate_provider.links.ecs.EcsTaskDefinitionLink",
            "fargate_provider.links.ecs.TaskLogsLink",
            "fargate_provider.links.environment.EnvironmentUrlLink",
        ],
    }
