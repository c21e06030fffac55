"""`make demo`'s boto3 sessions: one botocore data loader for all of them.

`scripts/demo.py` runs every task of its three DAG runs in one process, and each AWS hook makes
its own boto3 session, whose new botocore loader reads and parses the JSON models again
(endpoints.json, 1.2 MB, and each service's model; EC2's alone is several MB): about 0.1 s of
CPU per client, some forty times. The demo names this factory in ``[aws] session_factory`` (the
amazon provider's setting for a custom session factory), so the sessions share one loader, as
the amazon provider already does for its async sessions (``base_aws._loader``).

Imported by the amazon provider when its ``base_aws`` module is first imported (it resolves the
setting then), not by the demo: ``BaseSessionFactory`` is defined by then.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session
from airflow.providers.amazon.aws.hooks.base_aws import BaseSessionFactory

_LOADER = botocore.loaders.create_loader()


class SharedLoaderSessionFactory(BaseSessionFactory):
    """``BaseSessionFactory`` whose basic sessions use one botocore data loader."""

    def _create_basic_session(self, session_kwargs: dict[str, Any]) -> boto3.session.Session:
        core = botocore.session.get_session()
        core.register_component("data_loader", _LOADER)
        session = boto3.session.Session(botocore_session=core, **session_kwargs)
        # boto3 appends its own data directory to the loader's search paths on every new session.
        _LOADER.search_paths[:] = dict.fromkeys(_LOADER.search_paths)
        return session
