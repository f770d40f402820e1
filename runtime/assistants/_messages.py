"""Thread messages and their content parts, in the shapes of the Assistants API."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, UrlConstraints, model_validator

Detail = Literal["low", "high", "auto"]

#: An image URL: ``http``, ``https`` or a ``data:`` URL carrying the image itself.
ImageUrlValue = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https", "data"])]


def new_id(prefix: str) -> str:
    """A fresh id in the Assistants style, e.g. ``run_3f2a...``: 24 random hex digits (the
    same source as ``uuid4``, a quarter of its cost; a run makes five of these)."""
    return f"{prefix}_{os.urandom(12).hex()}"


def unix_now() -> int:
    return int(time.time())


class FileCitation(BaseModel):
    file_id: str | None = None
    quote: str | None = None


class Annotation(BaseModel):
    """A span of a text part that cites a file."""

    type: Literal["file_citation", "file_path"] = "file_citation"
    text: str = ""
    start_index: int = Field(default=0, ge=0)
    end_index: int = Field(default=0, ge=0)
    file_citation: FileCitation | None = None


class TextObject(BaseModel):
    value: str
    annotations: list[Annotation] = Field(default_factory=list)


class TextContent(BaseModel):
    """A text part. ``{"type": "text", "text": "hi"}`` is accepted for
    ``{"type": "text", "text": {"value": "hi"}}``."""

    type: Literal["text"] = "text"
    text: TextObject

    @model_validator(mode="before")
    @classmethod
    def _text_as_string(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            return {**data, "text": {"value": data["text"]}}
        return data


class ImageFile(BaseModel):
    """An image given by file id, or by name and bytes (the local backend needs the bytes)."""

    file_id: str | None = None
    file_name: str | None = None
    file_content: bytes | None = None
    detail: Detail = "auto"

    @model_validator(mode="after")
    def _has_a_source(self) -> ImageFile:
        if self.file_id is None and self.file_content is None:
            raise ValueError("an image file needs a file_id or file_content")
        return self


class ImageFileContent(BaseModel):
    type: Literal["image_file"] = "image_file"
    image_file: ImageFile


class ImageUrl(BaseModel):
    url: ImageUrlValue
    detail: Detail = "auto"


class ImageUrlContent(BaseModel):
    type: Literal["image_url"] = "image_url"
    image_url: ImageUrl


class RefusalContent(BaseModel):
    """The model declined to answer; ``refusal`` is its explanation."""

    type: Literal["refusal"] = "refusal"
    refusal: str


ContentPart = Annotated[
    TextContent | ImageFileContent | ImageUrlContent | RefusalContent,
    Field(discriminator="type"),
]


class Attachment(BaseModel):
    """A file attached to a message. The local backend reads ``file_content``: images become
    image parts, UTF-8 text is given to the model inline."""

    file_id: str | None = None
    file_name: str | None = None
    file_content: bytes | None = None
    file_type: str | None = Field(default=None, description="a MIME type, e.g. text/csv")
    tools: list[dict[str, Any]] = Field(default_factory=list)


class Message(BaseModel):
    """One message of a thread. ``content`` may be given as a plain string; it is stored as a
    list of content parts."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("msg"))
    object: Literal["thread.message"] = "thread.message"
    created_at: int = Field(default_factory=unix_now)
    thread_id: str | None = None
    role: Literal["user", "assistant"] = "user"
    content: list[ContentPart] = Field(default_factory=list)
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _content_as_string(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("content"), str):
            return {**data, "content": [{"type": "text", "text": {"value": data["content"]}}]}
        return data

    @classmethod
    def user(cls, text: str, **fields: Any) -> Message:
        return cls(role="user", content=[TextContent(text=TextObject(value=text))], **fields)

    @classmethod
    def assistant(cls, text: str, **fields: Any) -> Message:
        return cls(role="assistant", content=[TextContent(text=TextObject(value=text))], **fields)

    @property
    def text(self) -> str:
        """The text parts joined; empty when there are none."""
        return "".join(p.text.value for p in self.content if isinstance(p, TextContent))

    @property
    def refusal(self) -> str | None:
        """The refusal's explanation when the model declined, else ``None``."""
        parts = [p.refusal for p in self.content if isinstance(p, RefusalContent)]
        return "".join(parts) if parts else None
