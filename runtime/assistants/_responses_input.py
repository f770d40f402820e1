"""Between an agent and its thread's messages and the Responses API's request fields: input
items (``input_text``, ``input_image``, ``input_file``) and function tools."""

from __future__ import annotations

from typing import Any

from ..models._chat_types import ModelSettings
from ._convert import _attachment_part, _data_url, _image_file_part, _mime_type
from ._errors import InvalidRequestError
from ._messages import (
    Attachment,
    ImageFileContent,
    ImageUrlContent,
    Message,
    RefusalContent,
    TextContent,
)
from ._types import AgentBase


def to_input_item(message: Message) -> dict[str, Any]:
    """The Responses input item of a thread message. Files known by id go as ``file_id``
    (the provider stores them); files given as bytes go inline: images and UTF-8 text as the
    local backend sends them, other files as ``input_file`` data. Raises
    ``InvalidRequestError`` for an attachment with neither an id nor bytes."""
    if message.role == "assistant":
        return {"role": "assistant", "content": message.text or message.refusal or ""}
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextContent):
            parts.append({"type": "input_text", "text": part.text.value})
        elif isinstance(part, RefusalContent):
            parts.append({"type": "input_text", "text": part.refusal})
        elif isinstance(part, ImageUrlContent):
            url, detail = str(part.image_url.url), part.image_url.detail
            parts.append({"type": "input_image", "image_url": url, "detail": detail})
        elif isinstance(part, ImageFileContent):
            image = part.image_file
            if image.file_content is None:
                parts.append(
                    {"type": "input_image", "file_id": image.file_id, "detail": image.detail}
                )
            else:
                parts.append(_from_chat_part(_image_file_part(image)))
    parts += [_attachment_input(a) for a in message.attachments]
    return {"role": "user", "content": parts}


def _attachment_input(attachment: Attachment) -> dict[str, Any]:
    label = attachment.file_name or attachment.file_id or "attachment"
    if attachment.file_content is None:
        if attachment.file_id is None:
            raise InvalidRequestError(
                f"attachment {label!r} has neither a file_id nor file_content; give one"
            )
        return {"type": "input_file", "file_id": attachment.file_id}
    try:
        return _from_chat_part(_attachment_part(attachment))
    except InvalidRequestError:  # neither an image nor text: the provider reads the file
        mime = _mime_type(attachment.file_name, attachment.file_type)
        data = _data_url(mime or "application/octet-stream", attachment.file_content)
        return {"type": "input_file", "filename": label, "file_data": data}


def _from_chat_part(part: dict[str, Any]) -> dict[str, Any]:
    """A chat content part (text or image URL) as a Responses input part."""
    if part["type"] == "text":
        return {"type": "input_text", "text": part["text"]}
    image = part["image_url"]
    return {"type": "input_image", "image_url": image["url"], "detail": image["detail"]}


def function_tools(agent: AgentBase) -> list[dict[str, Any]]:
    """The agent's function tools in the Responses format (flat: name, parameters...)."""
    tools = []
    for tool in agent.tools:
        if tool.function is None:
            continue
        tools.append(
            {
                "type": "function",
                "name": tool.function.name,
                "description": tool.function.description,
                "parameters": tool.function.parameters.model_dump(),
                "strict": False,
            }
        )
    return tools


def sampling_options(settings: ModelSettings | None) -> dict[str, Any]:
    """The keyword arguments of ``responses.create`` that carry ``settings``.

    Raises:
        ValueError: ``settings`` has ``seed`` or ``stop``, which the Responses API does not
            take (sending a response without them would quietly differ from what was asked).
    """
    if settings is None:
        return {}
    refused = [name for name in ("seed", "stop") if getattr(settings, name) is not None]
    if refused:
        raise ValueError(
            f"the responses backend cannot send {' or '.join(refused)}: the Responses API "
            "does not take it; leave it unset, or use the local backend"
        )
    options: dict[str, Any] = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_output_tokens": settings.max_tokens,
        "parallel_tool_calls": settings.parallel_tool_calls,
        "tool_choice": settings.tool_choice,
        "timeout": settings.timeout,
    }
    return {name: value for name, value in options.items() if value is not None}
