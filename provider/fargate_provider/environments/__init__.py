"""Ephemeral environments, the application built on the library:

- ``naming``: what an environment's resources are called and tagged (names, TTL and URL tags);
- ``task_definition``: the task definition its form describes;
- ``exposure``: how it is reached (load balancer route, public IP) and its URLs;
- ``discovery``: finding environments again (the janitor, the environments page);
- ``lifetime``: Extend and Keep until; ``cost``: cost so far; ``form``: the form's fields;
  ``page``: the environments page; ``report`` and ``teardown``: the DAG's report and cleanup tasks.
"""
