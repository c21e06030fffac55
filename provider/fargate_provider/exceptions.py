"""Typed errors of the provider, so callbacks and retry policies can tell them apart."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowFailException


class NotOursError(AirflowFailException):
    """A resource of the name exists but does not carry the provider's ``managed-by`` tag (or
    the other tags that make it ours): create does not adopt it, unless told to with
    ``adopt=True``. Not retried: someone has to rename or adopt."""


class TemplateFieldError(AirflowFailException):
    """A templated field whose Jinja failed to render; the message names the field and the template."""
