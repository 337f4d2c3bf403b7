"""Errors of the bias domain."""

from app.core.errors import AppError


class BiasNumericalFailure(AppError):
    status_code, code, title = 422, "numerical_failure", "Numerical failure"

    def __init__(self, message: str):
        super().__init__(f"the evaluation failed numerically: {message}")
