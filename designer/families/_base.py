"""The abstract parameterization family.

A family is a small immutable pytree (a frozen dataclass registered with
``jax.tree_util.register_dataclass``): sizes are static metadata, continuous knobs (a transform's
scale) are array leaves. It declares

- ``predictor(params)``: the predictor-preserving map ``z = phi(w)``;
- its continuous symmetry as a **block action**: the parameters split into ``n_blocks`` disjoint
  blocks of ``block_size`` numbers, on each of which the same Lie algebra of dimension
  ``n_generators`` acts by ``block_action(x, t)`` (``t`` = Lie-algebra coordinates,
  ``block_action(x, 0) = x``); ``symmetric_mask`` says which coordinates are non-compact
  (symmetric ``T_a``, rescalings) and which are compact (antisymmetric, rotations);
- ``balanced_point(z)``: the closed-form least-norm point of the fibre over ``z``.

The generators, Gram matrices, moment map and every induced bias are derived from these by
autodiff in :mod:`designer.geometry`; a family never writes its Gram by hand. Block structure keeps
the Gram block-diagonal, so the cost is linear in the number of blocks (a dense Gram of a
d = 1,000 Hadamard product would be a 2,000 x 2,000 matrix).
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

from designer._lazy import jax
from designer._lazy import LazyPytree, jnp
import numpy as np

from ..errors import DesignerInputError

Params = dict[str, "jax.Array"]


class Family(LazyPytree, abc.ABC):
    """Abstract base of every parameterization family (see module docstring)."""

    name: ClassVar[str]
    #: True when the model is linear in the predictor (``f(x) = <x, z>``), which the
    #: label-noise mechanism needs.
    linear_predictor: ClassVar[bool] = False
    #: False where the fibre over a predictor is more than one group orbit (a sum of
    #: parameterizations); the gauge bias needs one orbit.
    fibre_is_orbit: ClassVar[bool] = True

    # -- shapes ---------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def predictor_shape(self) -> tuple[int, ...]:
        """Shape of one predictor ``z``."""

    @abc.abstractmethod
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameter arrays, by name."""

    # -- the map ----------------------------------------------------------------------------
    @abc.abstractmethod
    def predictor(self, params: Params) -> jax.Array:
        """``z = phi(w)``."""

    def sgd_predictor(self, params: Params) -> jax.Array:
        """``z = phi(w)`` as the simulator differentiates it: reverse mode only, the same values
        as :meth:`predictor` (default: it). A family whose gradient XLA's CPU backend computes
        slowly overrides it (e.g. with :func:`designer._jax.matmul`)."""
        return self.predictor(params)

    # -- the symmetry -------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def n_blocks(self) -> int:
        """Number of independent blocks the group acts on."""

    @property
    @abc.abstractmethod
    def block_size(self) -> int:
        """Numbers per block."""

    @property
    @abc.abstractmethod
    def symmetric_mask(self) -> tuple[bool, ...]:
        """Per Lie-algebra coordinate: True for a symmetric (non-compact) generator."""

    @property
    def n_generators(self) -> int:
        """Lie-algebra dimension per block."""
        return len(self.symmetric_mask)

    @abc.abstractmethod
    def to_blocks(self, params: Params) -> jax.Array:
        """Rearrange parameters into an ``(n_blocks, block_size)`` array (a partition)."""

    @abc.abstractmethod
    def from_blocks(self, blocks: jax.Array) -> Params:
        """Inverse of :meth:`to_blocks`."""

    @abc.abstractmethod
    def block_action(self, x: jax.Array, t: jax.Array) -> jax.Array:
        """``exp(sum_a t_a T_a) . x`` for one block ``x`` and algebra coordinates ``t``."""

    # -- the slice ----------------------------------------------------------------------------
    @abc.abstractmethod
    def balanced_point(self, z: jax.Array) -> Params:
        """Closed-form least-norm point ``w*(z)`` of the fibre over ``z``."""

    # -- mechanisms ---------------------------------------------------------------------------
    def induced_shape(self, mechanism: Any, z: jax.Array) -> jax.Array:
        """The bias of ``mechanism`` for unit 1 (``Mechanism.shape`` dispatches here).

        A family whose fibre is one orbit hands back to the mechanism's ``orbit_shape``;
        composite families (sums, free parameters) override this.
        """
        return mechanism.orbit_shape(self, z)

    # -- helpers with defaults --------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())

    def init_params(self, key: jax.Array, scale: float = 1.0, dtype: Any = "float32") -> Params:
        """Independent normal entries of standard deviation ``scale``."""
        shapes = self.param_shapes()
        keys = jax.random.split(key, len(shapes))
        return {
            name: scale * jax.random.normal(k, shape, dtype)
            for k, (name, shape) in zip(keys, sorted(shapes.items()))
        }

    def closed_form(self, mechanism: str):
        """A closed form of ``mechanism``'s shape (``unit = 1``), ``z -> shape``, registered next to
        the family; ``None`` (the default) means the engine computes it. Checked against the
        engine for every family and mechanism by tests/geometry/test_registered_closed_forms.py."""
        return None

    def convex_atom(self, mechanism: str):
        """The family's bias under ``mechanism`` as a convex atom (an L1, nuclear or squared norm of
        its fixed map, or a free span), from which a sum's infimal convolution is computed
        (:mod:`designer.families._sum_closed`); ``None`` (the default) where it is not one."""
        return None

    @property
    def free_params(self) -> tuple[str, ...]:
        """Names of the parameters no mechanism touches (a ``free`` term): weight decay skips them
        in training (the simulator, the validation, the exported modules), as the design assumes."""
        return ()

    @property
    def finite_slope(self) -> bool:
        """Whether the map from parameters to predictor has a finite slope at the balanced point of
        every predictor (0 included): the design ranks such a parameterization above one whose slope
        is infinite there (it cannot be trained by gradient steps from a small start)."""
        return True

    def check_point(self, z: np.ndarray, field: str = "points") -> None:
        """Host-side validation of one predictor (shape, finiteness); raises DesignerInputError."""
        if tuple(z.shape) != tuple(self.predictor_shape):
            raise DesignerInputError(
                field, f"expected a predictor of shape {list(self.predictor_shape)}, got {list(z.shape)}"
            )
        if not np.all(np.isfinite(z)):
            raise DesignerInputError(field, "contains a non-finite value (NaN or infinity)")


def require(condition: bool, field: str, message: str) -> None:
    """Raise :class:`DesignerInputError` unless ``condition``."""
    if not condition:
        raise DesignerInputError(field, message)


def rank_one_check(mats: np.ndarray, field: str, what: str, rtol: float = 1e-8) -> None:
    """Each matrix of a stack must have rank <= 1 (per-unit outer products)."""
    if mats.shape[-1] == 1 or mats.shape[-2] == 1:
        return
    s = np.linalg.svd(mats, compute_uv=False)
    bad = np.nonzero(s[..., 1] > rtol * np.maximum(s[..., 0], 1e-300))[0]
    if bad.size:
        raise DesignerInputError(
            field, f"{what} {int(bad[0])} is not a rank-one outer product (second singular value "
            f"{float(s[bad[0], 1]):.3g}), so it is not a predictor of this family"
        )
