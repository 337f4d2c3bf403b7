"""Schemas of the catalog: what can be asked, with each knob's range."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Knob(BaseModel):
    """One setting of a family, target or mechanism."""

    name: str
    type: str
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    choices: list[Any] | None = None
    nullable: bool | None = None
    description: str | None = None


class CatalogEntry(BaseModel):
    name: str
    description: str
    knobs: list[Knob]


class CatalogList(BaseModel):
    items: list[CatalogEntry]
