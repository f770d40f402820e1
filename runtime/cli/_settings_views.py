"""What is derived from the settings' definitions: their flags and the README's table.

Both read ``user_settings()``, so a setting added to ``RelaySettings`` or ``RuntimeSettings``
with a ``Setting`` gets its flag, its environment variable and its README row at once.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._setting import GROUPS
from ._config import UserSetting, user_settings

#: argparse converts these itself, so a bad number is reported as argparse reports it; other
#: values go to the settings as text, which validate them.
_CONVERTED: dict[Any, Callable[[str], Any]] = {int: int, float: float, Path: Path}


def flag_of(s: UserSetting) -> str | None:
    """``--step-timeout``; ``--no-code-execution`` for a bool that defaults to true; None for a
    setting read only from the environment."""
    if s.setting.env_only:
        return None
    dashed = s.key.replace("_", "-")
    return f"--no-{dashed}" if s.field.default is True else f"--{dashed}"


def _value_type(annotation: Any) -> Any:
    """``float`` for ``float | None``; the annotation itself otherwise."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kinds[0] if len(kinds) == 1 else annotation
    return annotation


def add_setting_flags(
    parser: argparse.ArgumentParser, command: str
) -> dict[str, argparse._ArgumentGroup]:
    """Add the flags of every setting ``command`` takes, grouped as in ``GROUPS``; returns the
    groups by name. Every flag defaults to None (not given), so lower sources show through;
    its dest is the setting's key."""
    settings = [s for s in user_settings().values() if command in s.setting.commands]
    groups = {}
    for group_name in GROUPS:
        members = [s for s in settings if s.setting.group == group_name and flag_of(s)]
        if members:
            groups[group_name] = group = parser.add_argument_group(group_name)
            for s in members:
                _add_flag(group, s)
    return groups


def _add_flag(group: argparse._ArgumentGroup, s: UserSetting) -> None:
    flag = flag_of(s)
    assert flag is not None
    help_text = s.setting.help or s.field.description or ""
    if not (s.field.default is None and "unset" in help_text):  # the help says it already
        help_text = f"{help_text} ({_default_words(s)})"
    kind = _value_type(s.field.annotation)
    if kind is bool:
        action = "store_false" if s.field.default is True else "store_true"
        group.add_argument(flag, dest=s.key, action=action, default=None, help=help_text)
        return
    group.add_argument(
        flag,
        dest=s.key,
        type=_CONVERTED.get(kind, str),
        metavar=s.setting.metavar or s.key.upper(),
        default=None,
        help=help_text,
    )


def _default_words(s: UserSetting) -> str:
    """The default as ``--help`` shows it: ``default: 60``; ``default: on`` for a switch.
    Percent signs are doubled: argparse formats help texts with ``%``."""
    default = s.field.get_default(call_default_factory=True)
    if isinstance(default, bool):
        # A --no-... flag turns off what is on by default: name the thing, not the flag.
        shown = f"{s.key.replace('_', ' ')} on" if default else "off"
    elif default is None:
        shown = "unset"
    else:
        shown = _shown_default(default)
    return f"default: {shown}".replace("%", "%%")


def settings_table() -> str:
    """The README's Configuration table, made from the settings themselves."""
    rows = [
        "| Setting | Flag | Environment | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    ordered = sorted(user_settings().values(), key=lambda s: GROUPS.index(s.setting.group))
    for s in ordered:
        flag = flag_of(s)
        key = "(environment only)" if s.setting.env_only else f"`{s.key}`"
        default = "unset" if s.field.default is None else f"`{_shown_default(s.field.default)}`"
        shown_flag = f"`{flag}`" if flag else ""
        rows.append(f"| {key} | {shown_flag} | `{s.env}` | {default} | {s.field.description} |")
    return "\n".join(rows)


def _shown_default(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
