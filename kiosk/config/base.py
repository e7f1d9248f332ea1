"""What every section model shares: strict keys and types; ``section:`` left empty = defaults."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from kiosk.config.checks import between

Pin = Annotated[int, AfterValidator(between(0, 27))]
"""A BCM GPIO number of the Raspberry Pi header."""


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, validate_default=False
    )

    @model_validator(mode="before")
    @classmethod
    def _null_section_means_defaults(cls, data: Any) -> Any:
        # `media:` with every child commented out is YAML null: treat it as "all defaults".
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                ann = info.annotation
                if (
                    name in data
                    and data[name] is None
                    and isinstance(ann, type)
                    and issubclass(ann, BaseModel)
                ):
                    data = {**data, name: {}}
        return data
