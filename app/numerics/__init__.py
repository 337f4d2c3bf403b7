"""The only door from the API process to the numerical library.

``designer`` imports JAX as soon as any of its modules is imported (``designer/__init__.py``
enables float64 mode), so the API process never imports it. Validation of specs, the JSON
schemas of the specs (for the OpenAPI document), the catalog and ``bias:evaluate`` all run in a
small pool of spawned processes (:mod:`app.numerics.gateway`), whose functions live in
:mod:`app.numerics.child`.
"""
