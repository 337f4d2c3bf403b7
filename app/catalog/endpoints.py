"""``/v1/catalog/*``: the parameterization families, targets and mechanisms one can ask for."""

from fastapi import APIRouter, Request

from app.catalog import service
from app.catalog.schemas import CatalogList
from app.core.deps import PrincipalDep
from app.core.errors import problem_responses

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.get("/families", operation_id="list_catalog_families", response_model=CatalogList, responses=problem_responses(401, 503, 504))
async def list_catalog_families(request: Request, _principal: PrincipalDep) -> CatalogList:
    """Parameterization families (``param.family``) and their knobs."""
    return await service.section(request.app.state.numerics, "families")


@router.get("/targets", operation_id="list_catalog_targets", response_model=CatalogList, responses=problem_responses(401, 503, 504))
async def list_catalog_targets(request: Request, _principal: PrincipalDep) -> CatalogList:
    """Target regularizers of a design (``target.name``) and their knobs."""
    return await service.section(request.app.state.numerics, "targets")


@router.get("/mechanisms", operation_id="list_catalog_mechanisms", response_model=CatalogList, responses=problem_responses(401, 503, 504))
async def list_catalog_mechanisms(request: Request, _principal: PrincipalDep) -> CatalogList:
    """Bias mechanisms (``mechanism.kind``) and their knobs."""
    return await service.section(request.app.state.numerics, "mechanisms")


@router.get("/transforms", operation_id="list_catalog_transforms", response_model=CatalogList, responses=problem_responses(401, 503, 504))
async def list_catalog_transforms(request: Request, _principal: PrincipalDep) -> CatalogList:
    """Monotone transforms of a parameterization (``param.transform.kind``) and their knobs."""
    return await service.section(request.app.state.numerics, "transforms")
