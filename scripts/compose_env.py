"""Write .env for docker-compose.yaml: the secrets every Airflow container must share.

    python3 scripts/compose_env.py        # or: make compose-env

Each container would otherwise generate its own JWT secret and API secret key, and tasks would
fail with "Invalid auth token"; the Fernet key encrypts connections and Variables in the
database; the admin password is the UI login. An existing .env is never overwritten.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path


def values() -> dict[str, str]:
    return {
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "AIRFLOW_UID": str(os.getuid()),
    }


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent / ".env")
    if path.exists():
        print(f"{path} exists; left as it is")
        return 0
    path.write_text("".join(f"{key}={value}\n" for key, value in values().items()))
    path.chmod(0o600)
    print(f"wrote {path}; sign in as admin with AIRFLOW_ADMIN_PASSWORD from it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
