"""The demo's model: a ``ScriptedModel`` whose replies are a function of the conversation, so
the real master, bus and agents run the classic example with no key and no network.

The planner gets a plan in which the picture (image agent) and the stylesheet (code agent) are
independent, so they run at the same time, and the page (file agent) waits for both and takes
the picture's path from the image step's result. Each agent gets one tool call, then its final
text once the tool's result is in the conversation.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from agent_relay.bus import one_line

from ..models._chat_types import ChatMessage, ToolDefinition
from ..testing._scripted_model import ScriptedModel, ScriptedReply, tool_call

DEMO_TASK = "Draw a sunset over mountains and make a web page that shows it, saved as index.html"
_DEMO_SUBJECT = "a sunset over mountains"


@dataclass(frozen=True)
class DemoPace:
    """How fast the demo model answers: streamed plan chunks, and a pause per agent turn."""

    chunk_size: int
    chunk_delay: float
    turn_delay: float
    image_size: str = "1024x1024"


#: For people watching: the plan streams in and the steps visibly take turns and overlap.
SHOWCASE = DemoPace(chunk_size=24, chunk_delay=0.03, turn_delay=0.45)
#: For batches and tests: the same conversation, without the pauses.
QUICK = DemoPace(chunk_size=256, chunk_delay=0.0, turn_delay=0.02, image_size="512x512")

_PICTURE = re.compile(r'the picture (".*") and save it as (\S+?)\.$', re.MULTILINE)
_TITLED = re.compile(r'titled (".*"): show', re.DOTALL)
_ARTIFACT_IMAGE = re.compile(r"^- artifact image: (\S+)", re.MULTILINE)

STYLESHEET = """\
* { box-sizing: border-box; }
body {
  margin: 0;
  min-height: 100vh;
  display: grid;
  place-items: center;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #fdf6ec;
  background: linear-gradient(160deg, #2c2060 0%, #8a4b7a 55%, #ffb061 100%);
}
main { max-width: 52rem; padding: 2rem; text-align: center; }
h1 {
  margin: 0 0 1.5rem;
  font-weight: 600;
  letter-spacing: 0.02em;
  text-shadow: 0 2px 12px rgb(0 0 0 / 35%);
}
figure {
  margin: 0;
  padding: 1rem;
  border-radius: 1.25rem;
  background: rgb(255 255 255 / 10%);
  box-shadow: 0 20px 60px rgb(0 0 0 / 35%);
}
img {
  display: block;
  width: 100%;
  max-width: 40rem;
  height: auto;
  margin: 0 auto;
  border-radius: 0.75rem;
}
figcaption { margin-top: 0.9rem; font-style: italic; opacity: 0.9; }
footer { margin-top: 1.5rem; font-size: 0.8rem; opacity: 0.7; }
"""


def subject_of(task: str) -> tuple[str, str]:
    """What the demo draws for ``task``, and the image's file name."""
    if task.strip() == DEMO_TASK:
        return _DEMO_SUBJECT, "sunset.png"
    return one_line(task, 120), "picture.png"


def plan_for(task: str) -> str:
    subject, filename = subject_of(task)
    title = subject[:1].upper() + subject[1:]
    steps = [
        {
            "id": "s1",
            "agent": "image",
            "prompt": f"Create the picture {json.dumps(subject)} and save it as {filename}.",
            "depends_on": [],
        },
        {
            "id": "s2",
            "agent": "code",
            "prompt": "Write style.css: a stylesheet for a page that shows one picture, centred "
            "on a warm background, with a title and a caption.",
            "depends_on": [],
        },
        {
            "id": "s3",
            "agent": "file",
            "prompt": f"Write index.html, titled {json.dumps(title)}: show the picture from "
            "step s1 centred with a caption, and link style.css.",
            "depends_on": ["s1", "s2"],
        },
    ]
    return json.dumps({"plan": steps}, indent=1, ensure_ascii=False)


def page(title: str, image: str) -> str:
    t, src = html.escape(title), html.escape(image, quote=True)
    return f"""\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{t}</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <main>
    <h1>{t}</h1>
    <figure>
      <img src="{src}" alt="{t}">
      <figcaption>{t}</figcaption>
    </figure>
    <footer>Drawn, styled and laid out by relay's image, code and file agents.</footer>
  </main>
</body>
</html>
"""


def _quoted(pattern: re.Pattern[str], text: str, default: str) -> str:
    found = pattern.search(text)
    if found is None:
        return default
    try:
        value = json.loads(found.group(1))
    except json.JSONDecodeError:
        return default
    return value if isinstance(value, str) and value else default


def _tool_names(tools: Sequence[ToolDefinition]) -> set[str]:
    return {str(t.get("function", {}).get("name", "")) for t in tools}


def _image_turn(messages: Sequence[ChatMessage], done: bool, size: str) -> ScriptedReply:
    request = _first_user_text(messages)
    subject = _quoted(_PICTURE, request, "a picture")
    found = _PICTURE.search(request)
    filename = found.group(2) if found else "picture.png"
    if not done:
        prompt = f"{subject}, soft golden light, layered ridges fading into haze"
        return tool_call("generate_image", {"prompt": prompt, "size": size, "filename": filename})
    try:
        saved = json.loads(messages[-1].text).get("path", filename)
    except (json.JSONDecodeError, AttributeError):
        saved = filename
    return f"{saved}: {subject}"


def _code_turn(done: bool) -> ScriptedReply:
    if not done:
        return tool_call("save_code", {"path": "style.css", "code": STYLESHEET, "language": "css"})
    return (
        "Wrote style.css: the picture centred in a soft card on a warm gradient, with rounded "
        "corners, a shadow and an italic caption."
    )


def _file_turn(messages: Sequence[ChatMessage], done: bool) -> ScriptedReply:
    request = _first_user_text(messages)
    title = _quoted(_TITLED, request, "A picture")
    found = _ARTIFACT_IMAGE.search(request)
    image = found.group(1) if found else "picture.png"
    if not done:
        return tool_call("write_file", {"path": "index.html", "content": page(title, image)})
    return (
        f"Wrote index.html: a page titled {json.dumps(title)} that shows {image} centred with "
        "a caption and uses style.css. Open it in a browser."
    )


def _first_user_text(messages: Sequence[ChatMessage]) -> str:
    return next((m.text for m in messages if m.role == "user"), "")


def demo_model(pace: DemoPace = SHOWCASE) -> ScriptedModel:
    """The demo's scripted model, answering at ``pace``."""

    async def reply(
        messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
    ) -> ScriptedReply:
        system = messages[0].text if messages and messages[0].role == "system" else ""
        if system.startswith("You plan work"):
            return plan_for(_first_user_text(messages))
        await anyio.sleep(pace.turn_delay)
        names = _tool_names(tools)
        done = bool(messages) and messages[-1].role == "tool"
        if "generate_image" in names:
            return _image_turn(messages, done, pace.image_size)
        if "save_code" in names:
            return _code_turn(done)
        if "write_file" in names:
            return _file_turn(messages, done)
        # The final summary, or an agent the demo does not know: a short, honest answer.
        return "Done: see the steps' results above."

    # keep_calls=0: nothing reads the demo's calls, and a batch of thousands of tasks on it
    # would otherwise hold every conversation it ever answered.
    return ScriptedModel(
        reply,
        chunk_size=pace.chunk_size,
        chunk_delay=pace.chunk_delay,
        name="demo",
        keep_calls=0,
    )
