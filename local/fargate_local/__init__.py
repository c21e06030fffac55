"""The local ECS emulator: moto's server plus the Fargate control plane moto lacks.

Needs the ``local`` extra (moto[server], pinned). ``LocalEcs`` runs it in-process;
``LocalEcsClient`` drives a running one; ``fargate-local serve`` runs it from a shell.
"""

from fargate_local.client import LocalEcsClient

__all__ = ["LocalEcs", "LocalEcsClient"]


def __getattr__(name: str):
    if name == "LocalEcs":  # imports moto: only when asked for
        from fargate_local.server import LocalEcs

        return LocalEcs
    raise AttributeError(name)
