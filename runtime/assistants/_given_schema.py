"""Arguments described by a JSON schema given as it is (an MCP tool's ``inputSchema``), not
derived from a Python signature: the function takes the arguments as one dict.

A model's arguments are checked against the schema before the call, so the model reads a
clear error instead of the far side's; a schema that is itself invalid (another service's
mistake) is passed on to the model unchecked and the far side judges the arguments.
"""

from __future__ import annotations

import json
from typing import Any


class ArgumentsError(ValueError):
    """The model's arguments do not fit the schema; the message says where, in one line."""


class GivenArguments:
    """The ``ArgumentsSpec`` of a function ``f(arguments: dict) -> ...`` with a given schema.

    Raises:
        TypeError: (constructor) ``schema`` is not a JSON object schema (``type`` other than
            ``"object"``, or not a dict).
    """

    def __init__(self, schema: dict[str, Any], name: str, description: str) -> None:
        if not isinstance(schema, dict):
            raise TypeError(f"tool {name!r}: parameters must be a JSON schema object (a dict)")
        if schema.get("type", "object") != "object":
            raise TypeError(
                f"tool {name!r}: parameters must describe a JSON object, not {schema['type']!r}"
            )
        self.json_schema: dict[str, Any] = {"type": "object", "properties": {}, **schema}
        self.description = description
        self._validator: Any = None
        self._checked = False

    def _get_validator(self) -> Any:
        if not self._checked:
            self._checked = True
            import jsonschema  # only when a tool with a given schema is first called

            cls = jsonschema.validators.validator_for(self.json_schema)
            try:
                cls.check_schema(self.json_schema)
            except jsonschema.SchemaError:
                return None
            self._validator = cls(self.json_schema)
        return self._validator

    def validate_json(self, arguments: str) -> tuple[list[Any], dict[str, Any]]:
        """The model's raw JSON as ``([arguments], {})``.

        Raises:
            ArgumentsError: not JSON, not an object, or not what the schema asks for.
        """
        try:
            values = json.loads(arguments.strip() or "{}")
        except ValueError as error:
            raise ArgumentsError(f"arguments are not valid JSON ({error})") from None
        if not isinstance(values, dict):
            raise ArgumentsError("arguments must be a JSON object")
        validator = self._get_validator()
        if validator is not None:
            errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
            if errors:
                shown = "; ".join(
                    (
                        f"argument {'.'.join(str(p) for p in e.absolute_path)!r}: "
                        if e.absolute_path
                        else ""
                    )
                    + e.message
                    for e in errors[:3]
                )
                more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
                raise ArgumentsError(shown + more)
        return [values], {}
