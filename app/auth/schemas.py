"""Response schemas of the auth domain."""

from pydantic import BaseModel


class WhoAmI(BaseModel):
    """The caller as the service sees it."""

    name: str
    is_admin: bool
    single_user_mode: bool
