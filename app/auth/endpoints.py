"""``GET /v1/me``: who the token belongs to."""

from fastapi import APIRouter, Request

from app.auth.schemas import WhoAmI
from app.core.deps import PrincipalDep, UnitOfWorkDep
from app.core.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["auth"])


@router.get("/me", operation_id="get_me", response_model=WhoAmI, responses=problem_responses(401))
async def get_me(principal: PrincipalDep, uow: UnitOfWorkDep, request: Request) -> WhoAmI:
    """The calling user, and whether the service runs in single-user mode."""
    single = not await uow.read(request.app.state.user_mode.has_users)
    return WhoAmI(name=principal.name, is_admin=principal.is_admin, single_user_mode=single)
