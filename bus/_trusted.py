"""Models built from values that are valid already, without validating them again.

The bus builds its own events this way, and the engine a few models per step out of values
it checked before (a step of a validated plan, the task's settings, an agent's output):
validating them again cost 5-10 µs a model and, through pydantic's per-instance bookkeeping,
objects the garbage collector walks. ``trusted`` does what ``BaseModel.model_construct`` does
for a complete set of values, minus its per-field work. Never use it for values from users,
models or the network: validate those.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__
# Per model class: the names of all its fields, one set shared by its trusted instances. It
# is never changed: setting a field adds its name, which every such set holds already.
_all_fields: dict[type[BaseModel], set[str]] = {}


def trusted(
    cls: type[Model], values: dict[str, Any], *, fields_set: set[str] | None = None
) -> Model:
    """An instance of ``cls`` whose fields are ``values``, as they are: ``values`` must hold
    every field of ``cls`` (defaults included) as the validated model would, and becomes the
    instance's ``__dict__`` (not copied). For models without extras or private attributes.
    A field left out is a programming error: it shows as an ``AttributeError`` when read.

    ``fields_set`` is what ``model_fields_set`` says was given (all fields by default); it is
    shared, not copied, so it must never change (setting a field it holds changes nothing)."""
    model = _new(cls)
    _set(model, "__dict__", values)
    fields = fields_set if fields_set is not None else _all_fields.get(cls)
    if fields is None:
        fields = _all_fields[cls] = set(cls.model_fields)
    _set(model, "__pydantic_fields_set__", fields)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
