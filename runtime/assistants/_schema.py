"""From a Python function's signature and docstring to a pydantic model of its arguments and
the JSON schema a model sees."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import docstring_parser
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticUserError,
    ValidationError,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema


class ArgumentsSpec:
    """The arguments model of one function, and how to call the function with an instance."""

    def __init__(self, function: Callable[..., Any], model_name: str) -> None:
        doc = docstring_parser.parse(inspect.getdoc(function) or "")
        self.description = (doc.description or "").strip()
        param_docs = {p.arg_name: p.description for p in doc.params if p.description}
        signature = inspect.signature(function)
        try:
            hints = typing.get_type_hints(_hint_source(function), include_extras=True)
        except NameError as error:
            raise TypeError(
                f"tool {model_name!r}: cannot resolve the type hint {error.name!r}; "
                "define the types a tool uses at module level"
            ) from error
        fields: dict[str, Any] = {}
        self._positional_only: list[str] = []
        self._field_of: dict[str, str] = {}
        for index, param in enumerate(signature.parameters.values()):
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(
                    f"tool {model_name!r}: *{param.name} cannot be described to a model; "
                    "give the function named parameters"
                )
            annotation = hints.get(param.name, Any)
            default = ... if param.default is param.empty else param.default
            extra: dict[str, Any] = {}
            if param.name in param_docs and not _described(annotation):
                extra["description"] = param_docs[param.name]
            # Fields get neutral names and the parameter's name as alias, so any parameter
            # name works, even one that shadows a BaseModel attribute or starts with "_".
            field_name = f"arg{index}"
            fields[field_name] = (annotation, Field(default, alias=param.name, **extra))
            self._field_of[param.name] = field_name
            if param.kind is param.POSITIONAL_ONLY:
                self._positional_only.append(param.name)
        try:
            self.model: type[BaseModel] = create_model(
                f"{model_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
            )
            self.json_schema = _schema_without_titles(self.model)
        except PydanticUserError as error:
            first_line = str(error).splitlines()[0]
            raise TypeError(
                f"tool {model_name!r}: its parameters cannot be described as JSON: {first_line}"
            ) from error

    def validate_json(self, arguments: str) -> tuple[list[Any], dict[str, Any]]:
        """Validate the model's raw JSON; returns ``(args, kwargs)`` for the function.
        Raises ``ValidationError``."""
        values = self.model.model_validate_json(arguments.strip() or "{}")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for name, field_name in self._field_of.items():
            value = getattr(values, field_name)
            if name in self._positional_only:
                args.append(value)
            else:
                kwargs[name] = value
        return args, kwargs


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad argument, e.g. ``argument 'location': field required``."""
    problems = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        if item["type"] == "json_invalid":
            return f"arguments are not valid JSON ({item.get('ctx', {}).get('error', 'invalid')})"
        if not location and item["type"] == "model_type":
            return "arguments must be a JSON object"
        message = item["msg"][:1].lower() + item["msg"][1:]
        problems.append(f"argument {location!r}: {message}" if location else message)
    return "; ".join(problems)


def _hint_source(function: Callable[..., Any]) -> Any:
    """The parameters' type hints, without the return type (a tool's result needs no schema,
    and its hint may not resolve), with the globals they are resolved in. The hints live on
    the function, a partial's function, or a callable object's ``__call__``."""
    if isinstance(function, functools.partial):
        return _hint_source(function.func)
    if not (inspect.isfunction(function) or inspect.ismethod(function)):
        function = type(function).__call__
    annotations = dict(getattr(function, "__annotations__", {}))
    annotations.pop("return", None)
    globals_ = getattr(inspect.unwrap(function), "__globals__", {})
    return types.SimpleNamespace(__annotations__=annotations, __globals__=globals_)


def _described(annotation: Any) -> bool:
    """Whether ``Annotated[..., Field(description=...)]`` already describes the parameter."""
    if typing.get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__)


class _NoFieldTitles(GenerateJsonSchema):
    """Titles only repeat parameter names; leaving them out keeps tool definitions short."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _schema_without_titles(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, schema_generator=_NoFieldTitles)
    schema.pop("title", None)
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    return schema
