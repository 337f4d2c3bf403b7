"""Pytree registration deferred to the first instance, so spec modules import without JAX.

``@register_dataclass(data_fields=[...], meta_fields=[...])`` placed *under*
``@dataclasses.dataclass`` registers the class with ``jax.tree_util.register_dataclass`` when
the first instance is made (every instance that reaches JAX was made first).
"""

from __future__ import annotations

from typing import Sequence


def register_dataclass(data_fields: Sequence[str], meta_fields: Sequence[str]):
    def decorate(cls):
        previous = cls.__dict__.get("__post_init__")
        state = {"done": False}

        def __post_init__(self):
            if not state["done"]:
                import jax

                jax.tree_util.register_dataclass(cls,
                                                 data_fields=list(data_fields), meta_fields=list(meta_fields))
                state["done"] = True
            if previous is not None:
                previous(self)

        cls.__post_init__ = __post_init__
        return cls

    return decorate
