"""Request bodies are validated by pydantic with each field's own strictness.

Litestar's pydantic plugin calls ``model_validate(..., strict=False)``, which switches off the
``Strict`` markers of our schemas and would take ``"12"`` for ``12``; this plugin passes
``strict=None`` instead, so the schema decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
from litestar._signature.types import ExtendedMsgSpecValidationError
from litestar.plugins.pydantic import PydanticInitPlugin
from litestar.plugins.pydantic.utils import is_pydantic_model_class


def _decode(model_type: type[pydantic.BaseModel], value: Any) -> pydantic.BaseModel:
    try:
        return model_type.model_validate(value)
    except pydantic.ValidationError as exc:
        raise ExtendedMsgSpecValidationError(errors=list(exc.errors(include_input=False))) from exc  # type: ignore[arg-type]


class SchemaStrictPydanticPlugin(PydanticInitPlugin):
    @classmethod
    def decoders(
        cls, validate_strict: bool = False
    ) -> list[tuple[Callable[[Any], bool], Callable[[Any, Any], Any]]]:
        return [(is_pydantic_model_class, _decode)]
