"""The one base of every error found in input before any AWS call (no Airflow import here).

A task definition that breaks ECS's rules, an operator argument, a spec file, a form field, a template
or a setting out of range can never pass however often it is tried. Pure modules raise ``InputError``
(or a subclass); Airflow sees ``fargate_provider.exceptions.FargateInputError``, an
``AirflowFailException`` that is also an ``InputError``, so the task fails at once without spending
retries. Both are ``ValueError``: callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input that can never pass, found before any AWS call; the message names the field and
    what is allowed."""
