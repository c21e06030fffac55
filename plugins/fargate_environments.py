"""Airflow UI extras of airflow-provider-fargate: the "Fargate environments" page.

The page is a FastAPI app mounted by the API server under /fargate and shown in the UI's
navigation (Browse) as an external view. Its listener notes what each run of the environment DAG
started from the Trigger form does (fargate_provider.environments.run_notes). The ECS console links
on task pages come with the provider's operators (its extra-links), not from this file.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from fargate_provider.environments import run_notes
from fargate_provider.environments.page import app


class FargateEnvironmentsPlugin(AirflowPlugin):
    name = "fargate_environments"
    # Runs of the environment DAG started from the Trigger form get a note saying what they do.
    listeners = [run_notes]
    fastapi_apps = [{"app": app, "url_prefix": "/fargate", "name": "Fargate environments"}]
    external_views = [
        {
            "name": "Fargate environments",
            "href": "/fargate/environments",
            "url_route": "fargate-environments",
            "destination": "nav",
            "category": "browse",
        }
    ]
