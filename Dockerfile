# Airflow with this provider, for docker-compose.yaml. The Airflow version is pinned twice on
# purpose: the base image and pyproject.toml must agree (a test checks both).
FROM apache/airflow:3.3.2

COPY --chown=airflow:root pyproject.toml README.md /opt/airflow-provider-fargate/
COPY --chown=airflow:root provider /opt/airflow-provider-fargate/provider
# The `local` extra brings the local ECS emulator (fargate-local) for trying things without AWS.
RUN pip install --no-cache-dir "/opt/airflow-provider-fargate[local]"
