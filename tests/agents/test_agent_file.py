"""The file agent end to end: writing, reading and listing in the task's workspace, downloads
from a local server, and the paths and URLs it must refuse while the task carries on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_scripts import (
    HEALTHY_PROMPT,
    HEALTHY_STEP,
    HEALTHY_TURNS,
    AgentScript,
    TaskRecord,
    default_agents,
    plan_text,
    run_task,
    tool_call,
)
from conftest import ConnectionLog
from fake_web import PNG_BYTES, FakeWeb

from agent_relay.agents import FileAgent

FILES = "manage the files"


def file_script(*turns: Any) -> AgentScript:
    return AgentScript(
        plan_text(("files", "file", FILES, []), HEALTHY_STEP),
        {FILES: list(turns), HEALTHY_PROMPT: HEALTHY_TURNS},
    )


def agents_with(**file_options: Any) -> list[Any]:
    image, code, _ = default_agents()
    return [image, code, FileAgent(**file_options)]


def assert_healthy(record: TaskRecord, tmp_path: Path) -> None:
    result = record.result
    assert result.step("healthy").status == "completed", result.step("healthy").error
    assert (tmp_path / result.task_id / "healthy.txt").read_text() == "still standing"


def files_under(root: Path) -> set[str]:
    """Files and symlinks under ``root`` (symlinks not followed)."""
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_symlink() or not p.is_dir()
    }


async def test_write_read_and_list(tmp_path: Path) -> None:
    script = file_script(
        [
            tool_call("write_file", {"path": "notes/todo.md", "content": "# To do\n- test\n"}),
            tool_call("write_file", {"path": "index.html", "content": "<h1>hi</h1>"}),
        ],
        tool_call("read_file", {"path": "notes/todo.md"}),
        tool_call("list_files", {}),
    )
    record = await run_task(tmp_path, script.model())
    result = record.result

    assert result.status == "completed", result.error
    step = result.step("files")
    # the two writes of one turn ran concurrently, so their artifacts come in either order
    assert sorted((a.kind, a.path, a.mime_type) for a in step.artifacts) == [
        ("file", "index.html", "text/html"),
        ("file", "notes/todo.md", "text/markdown"),
    ]
    wrote_todo, _, read, listed = script.records[FILES].outputs
    assert wrote_todo == "wrote notes/todo.md (15 bytes)"
    assert read == "# To do\n- test\n"
    assert '{"path":"index.html","size":11}' in listed
    assert '{"path":"notes/todo.md","size":15}' in listed
    task_dir = tmp_path / result.task_id
    assert (task_dir / "notes" / "todo.md").read_text() == "# To do\n- test\n"
    assert (task_dir / "index.html").read_text() == "<h1>hi</h1>"
    assert "# To do" in step.output


async def test_downloads_from_an_allowed_local_server(tmp_path: Path, web: FakeWeb) -> None:
    script = file_script(
        tool_call("download_file", {"url": f"{web.url}/file.txt"}),
        tool_call("download_image", {"url": f"{web.url}/photo", "path": "img/photo"}),
    )
    record = await run_task(tmp_path, script.model(), agents_with(allow_hosts=[web.host]))
    result = record.result

    assert result.status == "completed", result.error
    text, image = result.step("files").artifacts
    assert (text.kind, text.path, text.url) == ("file", "file.txt", f"{web.url}/file.txt")
    assert text.mime_type == "text/plain"
    assert (image.kind, image.path, image.mime_type) == ("image", "img/photo.png", "image/png")
    task_dir = tmp_path / result.task_id
    assert (task_dir / "file.txt").read_text() == "hello from the web\n"
    assert (task_dir / "img" / "photo.png").read_bytes() == PNG_BYTES
    assert web.requests == ["/file.txt", "/photo"]


# -- paths ------------------------------------------------------------------------------------

TASK_ID = "t-paths"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../x", "escapes the workspace"),
        ("/etc/passwd", "is absolute"),
        ("a/../../x", "escapes the workspace"),
        ("link/secret.txt", "leads outside the workspace through a symlink"),
        ("n" * 300, "is too long"),
        ("bad\x00name", "contains a NUL byte"),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink-out", "long-name", "nul"],
)
async def test_paths_outside_the_workspace_are_refused(
    tmp_path: Path, outside: Path, path: str, message: str
) -> None:
    task_dir = tmp_path / TASK_ID
    task_dir.mkdir()
    (task_dir / "link").symlink_to(outside, target_is_directory=True)
    script = file_script(
        [
            tool_call("write_file", {"path": path, "content": "overwritten"}),
            tool_call("read_file", {"path": path}),
            tool_call("list_files", {"path": path.rsplit("/", 1)[0] if "/" in path else path}),
        ],
        tool_call("download_file", {"url": "http://example.invalid/x", "path": path}),
    )
    record = await run_task(tmp_path, script.model(), task_id=TASK_ID)

    outputs = script.records[FILES].outputs
    assert len(outputs) == 4
    assert all(out.startswith("error:") for out in outputs), outputs
    assert message in outputs[0] and message in outputs[1] and message in outputs[3]
    step = record.result.step("files")
    # every tool call was refused: the step did nothing, and says why (its output keeps what
    # the tools said)
    assert step.status == "failed" and message in (step.error or "") and message in step.output
    assert step.artifacts == []
    assert_healthy(record, tmp_path)
    # nothing changed outside, nothing leaked, nothing but the healthy file appeared
    assert (outside / "secret.txt").read_text() == "top secret"
    assert "top secret" not in record.events_json() and "root:" not in record.events_json()
    assert not (tmp_path / "x").exists()
    assert files_under(task_dir) == {"link", "healthy.txt"}


# -- URLs -------------------------------------------------------------------------------------


def bad_urls(web: FakeWeb) -> dict[str, tuple[str, str]]:
    """URL and the refusal it must get, for a server allow-listed as 127.0.0.1:<port> (but
    for the first case, where nothing is allow-listed)."""
    port = web.port
    return {
        "loopback-not-allowed": (f"{web.url}/file.txt", "127.0.0.1 is a loopback address"),
        "loopback-other-port": (f"http://127.0.0.1:{port + 1}/x", "127.0.0.1 is a loopback"),
        "localhost": (f"http://localhost:{port}/file.txt", "localhost resolves to"),
        "ipv6-loopback": (f"http://[::1]:{port}/file.txt", "::1 is a loopback address"),
        "metadata": ("http://169.254.169.254/latest/meta-data/", "is a link-local address"),
        "private-10": ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        "private-192": ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        "decimal": ("http://2130706433/", "non-standard way of writing 127.0.0.1"),
        "hex": ("http://0x7f000001/", "non-standard way of writing 127.0.0.1"),
        "redirect-to-metadata": (
            f"{web.url}/redirect?to=http://169.254.169.254/latest/meta-data/",
            "refused redirect: 169.254.169.254 is a link-local address",
        ),
        "file-scheme": ("file:///etc/passwd", "only http and https"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "loopback-not-allowed",
        "loopback-other-port",
        "localhost",
        "ipv6-loopback",
        "metadata",
        "private-10",
        "private-192",
        "decimal",
        "hex",
        "redirect-to-metadata",
        "file-scheme",
    ],
)
async def test_private_addresses_are_refused(
    tmp_path: Path, web: FakeWeb, connections: ConnectionLog, case: str
) -> None:
    url, message = bad_urls(web)[case]
    script = file_script(
        [
            tool_call("download_file", {"url": url}),
            tool_call("download_image", {"url": url, "path": "pic.png"}),
        ]
    )
    allowed = [] if case == "loopback-not-allowed" else [web.host]
    record = await run_task(tmp_path, script.model(), agents_with(allow_hosts=allowed))

    outputs = script.records[FILES].outputs
    assert len(outputs) == 2
    for out in outputs:
        assert out.startswith("error:") and message in out, out
    step = record.result.step("files")
    # every tool call was refused: the step did nothing, and says why (its output keeps what
    # the tools said)
    assert step.status == "failed" and message in (step.error or "") and message in step.output
    assert step.artifacts == []
    assert_healthy(record, tmp_path)
    assert files_under(tmp_path / record.result.task_id) == {"healthy.txt"}
    assert connections.non_loopback == []
    # the allow-listed server saw only the redirect it was asked for, nothing else
    assert all(r.startswith("/redirect") for r in web.requests)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("/big/4096", "is 4096 bytes; the limit is 1 KiB"),
        ("/stream/4096", "exceeded 1 KiB; stopped"),
        ("/slow", "timed out after 1 s"),
    ],
    ids=["declared-oversize", "streamed-oversize", "never-ending"],
)
async def test_oversize_and_endless_bodies_are_cut_off(
    tmp_path: Path, web: FakeWeb, route: str, message: str
) -> None:
    script = file_script(tool_call("download_file", {"url": f"{web.url}{route}"}))
    agents = agents_with(allow_hosts=[web.host], max_download_bytes=1024, download_timeout=1.0)
    record = await run_task(tmp_path, script.model(), agents)

    [out] = script.records[FILES].outputs
    assert out.startswith("error:") and message in out, out
    step = record.result.step("files")
    # every tool call was refused: the step did nothing, and says why (its output keeps what
    # the tools said)
    assert step.status == "failed" and message in (step.error or "") and message in step.output
    assert step.artifacts == []
    assert_healthy(record, tmp_path)
    # a refused download leaves nothing behind, not even a partial file
    assert files_under(tmp_path / record.result.task_id) == {"healthy.txt"}


async def test_listing_leaves_out_the_code_sandbox(tmp_path: Path) -> None:
    work_dir = tmp_path / "t-listing" / ".sandbox" / "run-1"
    work_dir.mkdir(parents=True)
    (work_dir / "main.py").write_text("print(1)\n")
    (tmp_path / "t-listing" / "kept.txt").write_text("mine")
    script = file_script(tool_call("list_files", {}))
    record = await run_task(tmp_path, script.model(), task_id="t-listing")
    (listed,) = script.records[FILES].outputs
    assert '{"path":"kept.txt","size":4}' in listed
    assert ".sandbox" not in listed
    assert record.result.step("files").status == "completed"
