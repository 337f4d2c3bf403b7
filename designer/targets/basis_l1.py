"""``basis_l1``: sparsity of the coefficients in a fixed orthonormal basis, ``R*(z) = |A z|_1``.

``A`` is the analysis matrix of :mod:`designer.bases` (``cosine``: orthonormal DCT-II; ``haar``:
orthonormal Haar wavelets, d a power of two). The default sampling draws the coefficients.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from .. import bases
from ..errors import DesignerInputError
from ._base import Target, check_domain


@dataclasses.dataclass(frozen=True)
class BasisL1(Target):
    basis: str
    dim: int
    kind = "basis_l1"

    @property
    def sampling_basis(self):
        return self.basis

    def value(self, z):
        return jnp.sum(jnp.abs(jnp.asarray(bases.analysis(self.basis, self.dim), z.dtype) @ z))


register_dataclass(BasisL1, data_fields=[], meta_fields=["basis", "dim"])


class BasisL1Spec(BaseModel):
    """L1 norm of the coefficients in a fixed basis (cosine: sparse spectrum; haar: sparse wavelets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["basis_l1"] = "basis_l1"
    basis: Literal["cosine", "haar"] = Field("cosine", description="orthonormal basis of the coefficients")

    def build(self, shape: tuple[int, ...]) -> BasisL1:
        check_domain(self.kind, "vector", shape)
        try:
            bases.check_basis(self.basis, shape[0])
        except DesignerInputError as exc:
            raise DesignerInputError("target.basis", exc.message) from None
        return BasisL1(self.basis, shape[0])
