"""Between thread messages (content parts, attachments) and the chat model's messages."""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

from ..models._chat_types import ChatMessage
from ._errors import InvalidRequestError
from ._messages import (
    Attachment,
    ImageFile,
    ImageFileContent,
    ImageUrlContent,
    Message,
    RefusalContent,
    TextContent,
)


def to_chat_message(message: Message) -> ChatMessage:
    """The chat-model form of a thread message. Raises ``InvalidRequestError`` for content
    the local backend cannot hand to a model (a file known only by id, binary attachments)."""
    if message.role == "assistant":
        return ChatMessage(role="assistant", content=message.text or None, refusal=message.refusal)
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextContent):
            parts.append({"type": "text", "text": part.text.value})
        elif isinstance(part, ImageUrlContent):
            image_url = {"url": str(part.image_url.url), "detail": part.image_url.detail}
            parts.append({"type": "image_url", "image_url": image_url})
        elif isinstance(part, ImageFileContent):
            parts.append(_image_file_part(part.image_file))
        elif isinstance(part, RefusalContent):
            parts.append({"type": "text", "text": part.refusal})
    parts += [_attachment_part(a) for a in message.attachments]
    if all(p["type"] == "text" for p in parts):
        return ChatMessage(role="user", content="\n\n".join(p["text"] for p in parts))
    return ChatMessage(role="user", content=parts)


def _image_file_part(image: ImageFile) -> dict[str, Any]:
    if image.file_content is None:
        raise InvalidRequestError(
            f"image file {image.file_id!r} is known only by id and the local backend has no "
            "file store; give file_content (the bytes) or use an image_url part"
        )
    mime = _mime_type(image.file_name, None) or "image/png"
    url = _data_url(mime, image.file_content)
    return {"type": "image_url", "image_url": {"url": url, "detail": image.detail}}


def _attachment_part(attachment: Attachment) -> dict[str, Any]:
    label = attachment.file_name or attachment.file_id or "attachment"
    if attachment.file_content is None:
        raise InvalidRequestError(
            f"attachment {label!r} has no file_content and the local backend has no file "
            "store; attach the file's bytes"
        )
    mime = _mime_type(attachment.file_name, attachment.file_type)
    if mime is not None and mime.startswith("image/"):
        url = _data_url(mime, attachment.file_content)
        return {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}
    try:
        text = attachment.file_content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError(
            f"attachment {label!r} is neither an image nor UTF-8 text, so the local backend "
            "cannot show it to the model"
        ) from None
    return {"type": "text", "text": f"Attached file {label}:\n{text}"}


def _mime_type(file_name: str | None, declared: str | None) -> str | None:
    if declared:
        return declared
    return mimetypes.guess_type(file_name)[0] if file_name else None


def _data_url(mime: str, content: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
