"""Errors of the auth domain."""

from app.core.errors import Conflict, InvalidInput, Unauthorized


class MissingToken(Unauthorized):
    def __init__(self):
        super().__init__("this service has users: send 'Authorization: Bearer <token>'")


class InvalidToken(Unauthorized):
    def __init__(self):
        super().__init__("the bearer token is not valid")


class UserExists(Conflict):
    def __init__(self, name: str):
        super().__init__(f"a user named {name!r} already exists", field="name")


class InvalidUserName(InvalidInput):
    def __init__(self, name: str):
        super().__init__(
            f"user name {name!r} must be 1-64 characters of letters, digits, '.', '_' or '-'", field="name"
        )
