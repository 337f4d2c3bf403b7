"""Design-job service: a REST API over the ``designer`` library with persisted, recoverable jobs.

The API process never imports JAX; numerical work runs in spawned worker processes.
"""
