"""The workspace: every bad path refused with a clear message, writes atomic, sizes bounded."""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_relay.agents import FileInfo, Workspace, WorkspaceError
from agent_relay.runtime import RelayError

# Marked here as well as by tests/conftest.py: anyio then keeps the parametrized variants.
pytestmark = pytest.mark.anyio


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def refused(text: str) -> pytest.RaisesExc[WorkspaceError]:
    """Expect a WorkspaceError whose message contains ``text`` literally."""
    return pytest.raises(WorkspaceError, match=re.escape(text))


# -- paths refused as text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../x", "path '../x' escapes the workspace"),
        ("a/../../x", "path 'a/../../x' escapes the workspace"),
        ("./../x", "escapes the workspace"),
        ("a/b/../../../etc/passwd", "escapes the workspace"),
        ("..", "escapes the workspace"),
        ("/etc/passwd", "path '/etc/passwd' is absolute"),
        ("//etc/passwd", "is absolute"),
        ("", "path is empty"),
        ("   ", "path is empty"),
        ("a\x00b", "contains a NUL byte"),
        ("a\nb", "contains a control character"),
        ("a\rb.txt", "contains a control character"),
        ("\x1b[31mred", "contains a control character"),
        ("a\x7fb", "contains a control character"),
        ("a\x85b", "contains a control character"),
        ("a\ud800b", "is not valid Unicode"),
        ("x" * 256, "is too long (256 bytes; the limit is 255)"),
        ("é" * 128, "is too long (256 bytes; the limit is 255)"),
        ("/".join(["d" * 200] * 21), "path is too long (4220 bytes; the limit is 4096)"),
    ],
)
def test_bad_paths_are_refused_with_a_clear_message(
    workspace: Workspace, path: str, message: str
) -> None:
    with pytest.raises(WorkspaceError) as caught:
        workspace.resolve(path)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert "\x00" not in text
    assert isinstance(caught.value, RelayError)


def test_a_non_string_path_is_refused(workspace: Workspace) -> None:
    with refused("path must be a string, not bytes"):
        workspace.resolve(b"x")  # type: ignore[arg-type]


def test_plain_paths_resolve_inside(workspace: Workspace) -> None:
    assert workspace.resolve("a/b.txt") == workspace.root / "a" / "b.txt"
    assert workspace.resolve("./a//b/../c") == workspace.root / "a" / "c"
    assert workspace.resolve(".") == workspace.root
    assert workspace.relative("a/./b/../c/") == "a/c"
    assert workspace.relative("x/..") == "."
    assert workspace.resolve("x" * 255) == workspace.root / ("x" * 255)
    # Names that merely look odd are names, not escapes.
    assert workspace.resolve("..hidden/...") == workspace.root / "..hidden" / "..."
    assert workspace.resolve("a\\..\\..\\x") == workspace.root / "a\\..\\..\\x"


# -- symlinks -----------------------------------------------------------------------------


def test_symlinks_leading_out_are_refused(workspace: Workspace, outside: Path) -> None:
    root = workspace.root
    (root / "to-file").symlink_to(outside / "secret.txt")
    (root / "to-dir").symlink_to(outside)
    (root / "dangling").symlink_to(outside / "not-there-yet")
    (root / "relative-out").symlink_to("../outside/secret.txt")
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("../..")
    for path in [
        "to-file",
        "to-dir",
        "to-dir/secret.txt",
        "to-dir/new.txt",
        "dangling",
        "relative-out",
        "sub/up",
        "sub/up/outside/secret.txt",
    ]:
        with refused("leads outside the workspace through a symlink"):
            workspace.resolve(path)


def test_symlinks_inside_are_followed(workspace: Workspace) -> None:
    root = workspace.root
    (root / "real").mkdir()
    (root / "real" / "f.txt").write_text("hi")
    (root / "alias").symlink_to("real")
    (root / "f-link").symlink_to("real/f.txt")
    assert workspace.resolve("alias/f.txt") == root / "real" / "f.txt"
    assert workspace.resolve("f-link") == root / "real" / "f.txt"
    # ``..`` is applied to the text, never handed to the kernel after a symlink.
    assert workspace.resolve("alias/../f-link") == root / "real" / "f.txt"


async def test_reads_and_writes_through_outward_symlinks_change_nothing(
    workspace: Workspace, outside: Path
) -> None:
    root = workspace.root
    (root / "to-file").symlink_to(outside / "secret.txt")
    (root / "to-dir").symlink_to(outside)
    (root / "dangling").symlink_to(outside / "planted.txt")
    for path in ["to-file", "to-dir/secret.txt"]:
        with refused("outside the workspace"):
            await workspace.read_bytes(path)
    for path in ["to-file", "to-dir/secret.txt", "to-dir/new.txt", "dangling"]:
        with refused("outside the workspace"):
            await workspace.write_text(path, "overwritten")
    with refused("outside the workspace"):
        await workspace.mkdir("to-dir/sub")
    with refused("outside the workspace"):
        await workspace.list_files("to-dir")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert files_in(outside) == {"secret.txt"}
    # The links themselves are still there, untouched.
    assert os.readlink(root / "dangling") == str(outside / "planted.txt")


async def test_a_symlink_swapped_in_at_the_destination_is_replaced_not_followed(
    workspace: Workspace, outside: Path
) -> None:
    await workspace.write_text("report.txt", "old")
    async with workspace.open_atomic("report.txt") as out:
        await out.write(b"new content")
        # Another process swaps the checked destination for a symlink pointing out.
        (workspace.root / "report.txt").unlink()
        (workspace.root / "report.txt").symlink_to(outside / "secret.txt")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not (workspace.root / "report.txt").is_symlink()
    assert await workspace.read_text("report.txt") == "new content"


async def test_a_directory_swapped_for_a_symlink_after_the_check_is_not_followed(
    workspace: Workspace, outside: Path
) -> None:
    await workspace.write_text("docs/a.txt", "a")
    parts = workspace._resolve_parts("docs/a.txt")  # the check happens here...
    (workspace.root / "docs").rename(workspace.root / "docs-moved")
    (workspace.root / "docs").symlink_to(outside)  # ...and the swap here.
    (outside / "a.txt").write_text("outside a")
    with refused("a component is a symlink or not a directory"):
        await anyio.to_thread.run_sync(workspace._open_for_reading, "docs/a.txt", parts, 100, True)
    with refused("a component is a symlink or not a directory"):
        await anyio.to_thread.run_sync(workspace._create_temp, "docs/a.txt", parts)
    assert files_in(outside) == {"a.txt", "secret.txt"}


# -- property: nothing resolves outside ---------------------------------------------------

_segments = st.sampled_from(
    ["..", ".", "", "a", "b", "out", "loop", "in", "dangle", "up", "x.txt", "...", "\\", "~"]
)
_paths = st.one_of(
    st.lists(_segments, max_size=8).map("/".join),
    st.text(max_size=40),
    st.lists(_segments, max_size=6).map(lambda s: "/" + "/".join(s)),
)


@pytest.fixture(scope="module")
def maze(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with symlinks in every direction, including loops and dangling ones."""
    base = tmp_path_factory.mktemp("maze")
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (base / "outside").mkdir()
    (root / "out").symlink_to(base / "outside")
    (root / "a" / "up").symlink_to("../..")
    (root / "in").symlink_to("a/b")
    (root / "loop").symlink_to("loop")
    (root / "dangle").symlink_to(base / "outside" / "nothing")
    (root / "a" / "b" / "x.txt").write_text("x")
    return Workspace(root)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths)
def test_no_path_string_resolves_outside_the_root(maze: Workspace, path: str) -> None:
    try:
        resolved = maze.resolve(path)
    except WorkspaceError as error:
        message = str(error)
    else:
        real = os.path.realpath(resolved)
        assert real == str(maze.root) or real.startswith(str(maze.root) + os.sep)
        assert resolved.is_relative_to(maze.root)
        return
    assert "\n" not in message


# -- reading and writing ------------------------------------------------------------------


async def test_write_then_read_round_trips(workspace: Workspace) -> None:
    info = await workspace.write_text("notes/day one/ünïcode.md", "héllo\n")
    assert info == FileInfo(path="notes/day one/ünïcode.md", size=len("héllo\n".encode()))
    assert await workspace.read_text("notes/day one/ünïcode.md") == "héllo\n"
    assert await workspace.read_bytes("./notes/../notes/day one/ünïcode.md") == "héllo\n".encode()
    assert await workspace.exists("notes/day one")
    assert not await workspace.exists("notes/missing")
    assert files_in(workspace.root) == {"notes", "notes/day one", "notes/day one/ünïcode.md"}


async def test_overwrite_replaces_the_content(workspace: Workspace) -> None:
    await workspace.write_bytes("f.bin", b"1" * 100)
    await workspace.write_bytes("f.bin", b"2")
    assert await workspace.read_bytes("f.bin") == b"2"


async def test_write_without_overwrite_keeps_an_existing_file(workspace: Workspace) -> None:
    await workspace.write_text("keep.txt", "original")
    with refused("file 'keep.txt' already exists"):
        await workspace.write_text("keep.txt", "replacement", overwrite=False)
    assert await workspace.read_text("keep.txt") == "original"
    assert files_in(workspace.root) == {"keep.txt"}


async def test_an_oversized_write_leaves_the_old_content(tmp_path: Path) -> None:
    small = Workspace(tmp_path, max_write_bytes=10)
    await small.write_bytes("f.txt", b"old")
    with pytest.raises(WorkspaceError, match=r"refused to write 'f.txt': more than 10 bytes"):
        await small.write_bytes("f.txt", b"x" * 11)

    async def stream_twelve_bytes() -> None:
        async with small.open_atomic("f.txt") as out:
            await out.write(b"x" * 6)
            await out.write(b"x" * 6)

    with refused("more than 10 bytes"):
        await stream_twelve_bytes()
    assert await small.read_bytes("f.txt") == b"old"
    assert files_in(tmp_path) == {"f.txt"}  # no temporary file left behind


async def test_a_write_that_fails_midway_leaves_the_old_content(workspace: Workspace) -> None:
    await workspace.write_text("data.json", '{"ok": true}')
    leftover = []

    async def crash_midway() -> None:
        async with workspace.open_atomic("data.json") as out:
            leftover.append(out)
            await out.write(b'{"half": ')
            raise RuntimeError("producer crashed")

    with pytest.raises(RuntimeError, match="producer crashed"):
        await crash_midway()
    assert await workspace.read_text("data.json") == '{"ok": true}'
    assert files_in(workspace.root) == {"data.json"}
    with refused("no longer open"):
        await leftover[0].write(b"late")


async def test_a_cancelled_write_leaves_nothing_partial(workspace: Workspace) -> None:
    with anyio.move_on_after(0.05):
        async with workspace.open_atomic("stream.log") as out:
            await out.write(b"start")
            await anyio.sleep_forever()
    assert files_in(workspace.root) == set()


async def test_oversized_reads_are_refused_before_reading(tmp_path: Path) -> None:
    small = Workspace(tmp_path, max_read_bytes=8)
    (tmp_path / "big.txt").write_bytes(b"x" * 9)
    (tmp_path / "ok.txt").write_bytes(b"x" * 8)
    with pytest.raises(
        WorkspaceError, match=r"file 'big.txt' is too large to read \(9 bytes; the limit is 8\)"
    ):
        await small.read_bytes("big.txt")
    assert await small.read_bytes("ok.txt") == b"x" * 8
    assert await small.read_head("big.txt", 4) == b"xxxx"


async def test_reading_what_is_not_a_file_says_so(workspace: Workspace) -> None:
    await workspace.mkdir("dir/sub")
    os.mkfifo(workspace.root / "pipe")
    (workspace.root / "latin1.txt").write_bytes("café".encode("latin-1"))
    with refused("path 'dir' is a directory, not a file"):
        await workspace.read_bytes("dir")
    with refused("path '.' is a directory, not a file"):
        await workspace.read_bytes(".")
    with refused("path 'pipe' is not a regular file"):
        await workspace.read_bytes("pipe")
    with refused("cannot read 'nope.txt': no such file or directory"):
        await workspace.read_text("nope.txt")
    with refused("file 'latin1.txt' is not valid utf-8 text"):
        await workspace.read_text("latin1.txt")
    assert await workspace.read_text("latin1.txt", encoding="latin-1") == "café"


async def test_writing_over_a_directory_or_through_a_file_says_so(workspace: Workspace) -> None:
    await workspace.mkdir("dir")
    await workspace.write_text("file.txt", "f")
    with refused("path 'dir' is a directory, not a file"):
        await workspace.write_text("dir", "x")
    with refused("path '.' is a directory, not a file"):
        await workspace.write_text(".", "x")
    with refused("cannot write 'file.txt/x': a component is"):
        await workspace.write_text("file.txt/x", "x")
    with refused("cannot create directory 'file.txt'"):
        await workspace.mkdir("file.txt")
    assert files_in(workspace.root) == {"dir", "file.txt"}


def test_the_root_must_be_a_directory(tmp_path: Path) -> None:
    with refused("is not a directory"):
        Workspace(tmp_path / "missing")


# -- listing ------------------------------------------------------------------------------


async def test_list_files_is_ordered_recursive_and_bounded(
    workspace: Workspace, outside: Path
) -> None:
    for path, text in [("b.txt", "bb"), ("a/z.txt", "z"), ("a/c/d.txt", "ddd"), ("e.txt", "")]:
        await workspace.write_text(path, text)
    root = workspace.root
    (root / "link-in").symlink_to("b.txt")
    (root / "link-out").symlink_to(outside / "secret.txt")
    (root / "link-dir-out").symlink_to(outside)
    (root / "link-dir-in").symlink_to("a")
    (root / ".relay-tmp-0123").write_bytes(b"partial")
    listed = await workspace.list_files()
    assert [(f.path, f.size) for f in listed] == [
        ("a/c/d.txt", 3),
        ("a/z.txt", 1),
        ("b.txt", 2),
        ("e.txt", 0),
        ("link-in", 2),
    ]
    assert [f.path for f in await workspace.list_files(recursive=False)] == [
        "b.txt",
        "e.txt",
        "link-in",
    ]
    assert [f.path for f in await workspace.list_files("a")] == ["a/c/d.txt", "a/z.txt"]
    assert [f.path for f in await workspace.list_files(limit=2)] == ["a/c/d.txt", "a/z.txt"]
    with refused("path 'b.txt' is not a directory"):
        await workspace.list_files("b.txt")
