"""The "Environment URL" extra link: where people open an ephemeral environment.

The worker resolves it when the task finishes (Airflow stores the result under the link's
``xcom_key`` for the UI): the first web address in the ``urls`` of the task's own return
value. No return value (the task failed) or no web address gives "" without a word logged,
so the link is simply absent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

RETURN_VALUE_KEY = "return_value"
# Whitespace or control characters: not an address someone typed, so not a link.
_NOT_IN_A_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def first_web_url(urls: Any) -> str:
    """The first http:// or https:// URL with a host in ``urls``, else "" (anything else, a
    ``javascript:`` URL say, is data and never becomes a link)."""
    if not isinstance(urls, (list, tuple)):
        return ""
    for url in urls:
        if not isinstance(url, str) or _NOT_IN_A_URL.search(url):
            continue
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unbalanced IPv6 bracket
            continue
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            return url
    return ""


class EnvironmentUrlLink(BaseOperatorLink):
    """For a task that returns a summary with ``urls`` (the ephemeral environment's ``report``)."""

    name = "Environment URL"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        summary = XCom.get_value(key=RETURN_VALUE_KEY, ti_key=ti_key)
        return first_web_url(summary.get("urls")) if isinstance(summary, dict) else ""
