"""The catalog, as described by ``designer.catalog.describe()`` (fetched once from the numerics pool)."""

from __future__ import annotations

from app.catalog.schemas import CatalogList
from app.numerics.gateway import NumericsGateway

SECTIONS = ("families", "targets", "mechanisms", "transforms")


async def section(numerics: NumericsGateway, name: str) -> CatalogList:
    described = await numerics.catalog()
    return CatalogList.model_validate({"items": described.get(name, [])})
