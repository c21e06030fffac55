"""One botocore data loader per process for every session the provider's hooks make.

The amazon provider's hooks make a new boto3 session per hook, and each session's loader reads
botocore's JSON data again: the endpoint and partition tables and each service's model, about
0.15 s of CPU per session. A task that uses ECS, STS and ELBv2 pays that three times, and an
in-process run (``dag.test``) once per task. botocore's loader caches what it reads per loader
instance, so sessions whose loaders search the same paths share one loader here
(``Session.register_component``, botocore's documented way to replace a component): the data
is read once per process. What is shared is read-only model data; credentials, configuration
and clients stay per session. (aiobotocore's sessions, the triggers', already share one loader;
for them this changes nothing.)
"""

from __future__ import annotations

import threading
from typing import Any

_LOADERS: dict[tuple[str, ...], Any] = {}
_LOCK = threading.Lock()


def share_botocore_data(session: Any) -> Any:
    """``session`` (a boto3 session, or an aiobotocore/botocore one) with the process's shared data
    loader for its search paths (the first such session's own loader); returned for chaining."""
    core = getattr(session, "_session", session)  # boto3 wraps a botocore session; aiobotocore's is one
    own = core.get_component("data_loader")
    with _LOCK:
        shared = _LOADERS.setdefault(tuple(own.search_paths), own)
    if shared is not own:
        core.register_component("data_loader", shared)
        if getattr(session, "_loader", None) is own:  # boto3 keeps its own reference (for resources)
            session._loader = shared
    return session
