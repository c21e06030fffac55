# Airflow with this provider, for docker-compose.yaml. Airflow's version and Python's are pinned
# here and in pyproject.toml; they must agree (tests/test_compose.py checks both).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION
ARG PYTHON_VERSION

COPY --chown=airflow:root pyproject.toml README.md /opt/airflow-provider-fargate/
COPY --chown=airflow:root provider /opt/airflow-provider-fargate/provider
# Installed against Airflow's constraints for this release, so the provider cannot move Airflow's
# own dependencies; "apache-airflow==…" keeps Airflow itself where it is. The packages the
# provider pins itself (the amazon provider and moto, and the AWS SDKs their versions decide)
# are taken out of the constraints: their pins win.
# The `local` extra brings the local ECS emulator (fargate-local) for trying things without AWS.
RUN curl -fsSL "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt" \
        | grep -v -E '^(apache-airflow-providers-amazon|moto|boto3|botocore|aiobotocore|s3transfer)==' > /tmp/constraints.txt \
    && pip install --no-cache-dir --constraint /tmp/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" "/opt/airflow-provider-fargate[local]" \
    && rm /tmp/constraints.txt
