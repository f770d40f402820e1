"""Downloads against a real server on 127.0.0.1: the good path, every refusal, every bound."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from conftest import ConnectionLog
from fake_web import JPEG_BYTES, PNG_BYTES, FakeWeb
from yarl import URL

from agent_relay.agents import Downloader, DownloadError, DownloadResult, Workspace, WorkspaceError
from agent_relay.agents._download import name_from_url
from agent_relay.runtime import RelayError

# Marked here as well as by tests/conftest.py: anyio then keeps the parametrized variants.
pytestmark = pytest.mark.anyio


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def refused(text: str) -> pytest.RaisesExc[DownloadError]:
    return pytest.raises(DownloadError, match=re.escape(text))


@pytest.fixture
def downloader(workspace: Workspace, web: FakeWeb) -> Downloader:
    return Downloader(workspace, allow_hosts=[web.host])


# -- the good path ------------------------------------------------------------------------


async def test_an_image_is_saved_with_its_facts(
    downloader: Downloader, web: FakeWeb, workspace: Workspace, connections: ConnectionLog
) -> None:
    result = await downloader.download(f"{web.url}/image.png", expect_image=True)
    assert result == DownloadResult(
        path="image.png",
        size=len(PNG_BYTES),
        content_type="image/png",
        final_url=f"{web.url}/image.png",
        sha256=hashlib.sha256(PNG_BYTES).hexdigest(),
    )
    assert await workspace.read_bytes("image.png") == PNG_BYTES
    assert connections.addresses  # the tripwire saw the connection...
    assert connections.non_loopback == []  # ...and it stayed on this machine


async def test_derived_names_never_replace_existing_files(
    downloader: Downloader, web: FakeWeb, workspace: Workspace
) -> None:
    await workspace.write_text("file.txt", "mine")
    first = await downloader.download(f"{web.url}/file.txt")
    second = await downloader.download(f"{web.url}/file.txt?again=1")
    assert (first.path, second.path) == ("file-1.txt", "file-2.txt")
    assert await workspace.read_text("file.txt") == "mine"
    assert await workspace.read_text("file-2.txt") == "hello from the web\n"


async def test_destinations(downloader: Downloader, web: FakeWeb, workspace: Workspace) -> None:
    await workspace.write_text("notes/hello.txt", "old")
    explicit = await downloader.download(f"{web.url}/file.txt", "notes/hello.txt")
    into_dir = await downloader.download(f"{web.url}/image.png", "pictures/", expect_image=True)
    bare = await downloader.download(f"{web.url}/photo", "shots/sky", expect_image=True)
    derived = await downloader.download(f"{web.url}/photo", expect_image=True)
    assert explicit.path == "notes/hello.txt"  # an explicit destination is replaced
    assert await workspace.read_text("notes/hello.txt") == "hello from the web\n"
    assert into_dir.path == "pictures/image.png"
    assert bare.path == "shots/sky.png"
    assert derived.path == "photo.png"


@pytest.mark.parametrize(
    ("url", "content_type", "expect_image", "name"),
    [
        ("http://h/a/b/report.pdf", "application/pdf", False, "report.pdf"),
        ("http://h/a/b/", "text/html", False, "download.html"),
        ("http://h/..%2F..%2Fetc%2Fpasswd", None, False, "passwd"),
        ("http://h/a%20b%3C%3E%22.txt", None, False, "a_b.txt"),
        ("http://h/.bashrc", None, False, "bashrc"),
        ("http://h/x.php?id=1", "image/jpeg", True, "x.jpg"),
        ("http://h/x.JPEG", "image/jpeg", True, "x.JPEG"),
        ("http://h/%E2%80%AEgpj.exe", "image/png", True, "gpj.png"),
        ("http://h/" + "n" * 300 + ".txt", None, False, "n" * 80 + ".txt"),
    ],
)
def test_names_from_urls_are_safe(
    url: str, content_type: str | None, expect_image: bool, name: str
) -> None:
    assert name_from_url(URL(url), content_type, expect_image) == name


async def test_redirects_are_followed_and_reported(
    downloader: Downloader, web: FakeWeb, workspace: Workspace
) -> None:
    chain = f"{web.url}/redirect?to=/redirect%3Fto%3D/file.txt%26status%3D307&status=301"
    result = await downloader.download(chain)
    assert result.final_url == f"{web.url}/file.txt"
    assert await workspace.read_text(result.path) == "hello from the web\n"


async def test_for_workspace_saves_elsewhere(
    downloader: Downloader, web: FakeWeb, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    other = Workspace(tmp_path / "other")
    result = await downloader.for_workspace(other).download(f"{web.url}/file.txt")
    assert await other.read_text(result.path) == "hello from the web\n"
    assert files_in(downloader.workspace.root) == set()


# -- refused before any connection --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "refused: 127.0.0.1 is a loopback address"),
        ("http://127.0.0.1:8080/x", "refused: 127.0.0.1 is a loopback address"),
        ("http://[::1]/", "refused: ::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/", "refused: 10.0.0.1 is a private address"),
        ("http://10.255.255.255:8080/", "refused: 10.255.255.255 is a private address"),
        ("http://192.168.0.1/", "refused: 192.168.0.1 is a private address"),
        ("http://172.16.0.1/", "refused: 172.16.0.1 is a private address"),
        ("http://172.31.255.255/", "refused: 172.31.255.255 is a private address"),
        ("http://0.0.0.0:8000/", "refused: 0.0.0.0 is an unspecified address"),
        ("http://100.64.0.1/", "is a shared (carrier-grade NAT) address"),
        ("http://2130706433/", "'2130706433' is a non-standard way of writing 127.0.0.1"),
        ("http://0x7f000001/", "'0x7f000001' is a non-standard way of writing 127.0.0.1"),
        ("http://0177.0.0.1/", "'0177.0.0.1' is a non-standard way of writing 127.0.0.1"),
        ("http://127.1/", "'127.1' is a non-standard way of writing 127.0.0.1"),
        ("http://0xa9fea9fe/", "is a non-standard way of writing 169.254.169.254"),
        ("http://[::ffff:127.0.0.1]/", "a wrapped form of 127.0.0.1, a loopback address"),
        ("http://[::ffff:a9fe:a9fe]/", "a wrapped form of 169.254.169.254, a link-local"),
        ("http://[64:ff9b::a00:1]/", "a wrapped form of 10.0.0.1, a private address"),
        ("http://[fd00::1]/", "refused: fd00::1 is a unique-local address"),
        ("http://[fe80::1%25eth0]/", "is a link-local address"),
        ("file:///etc/passwd", "refused: file: URLs cannot be downloaded; only http and https"),
        ("ftp://example.com/x", "refused: ftp: URLs cannot be downloaded"),
        ("data:text/plain,hi", "refused: data: URLs cannot be downloaded"),
        ("gopher://127.0.0.1:70/", "refused: gopher: URLs cannot be downloaded"),
        ("javascript:alert(1)", "refused: javascript: URLs cannot be downloaded"),
        ("example.com/x.png", "refused: relative URLs cannot be downloaded"),
        ("http:///x", "refused: the URL has no host"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
async def test_forbidden_urls_are_refused_without_connecting(
    workspace: Workspace, web: FakeWeb, connections: ConnectionLog, url: str, message: str
) -> None:
    # Even with the test server allowed, nothing else is.
    downloader = Downloader(workspace, allow_hosts=[web.host])
    with refused(message) as caught:
        await downloader.download(url)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, RelayError)
    assert connections.addresses == []
    assert files_in(workspace.root) == set()


async def test_a_name_resolving_to_loopback_is_refused_by_the_resolver(
    workspace: Workspace, web: FakeWeb, connections: ConnectionLog
) -> None:
    downloader = Downloader(workspace, allow_hosts=[web.host])
    with pytest.raises(DownloadError, match=r"refused: localhost resolves to (127\.0\.0\.1|::1)"):
        await downloader.download(f"http://localhost:{web.port}/file.txt")
    assert connections.addresses == []
    assert web.requests == []


async def test_credentials_in_urls_are_refused_without_being_echoed(
    workspace: Workspace, connections: ConnectionLog
) -> None:
    with refused("refused: URLs with a user name or password are not downloaded") as caught:
        await Downloader(workspace).download("https://alice:hunter22@example.com/x.png")
    assert "hunter22" not in str(caught.value)
    assert connections.addresses == []


async def test_other_ports_of_an_allowed_host_stay_refused(
    workspace: Workspace, web: FakeWeb, connections: ConnectionLog
) -> None:
    downloader = Downloader(workspace, allow_hosts=[web.host])
    with refused("refused: 127.0.0.1 is a loopback address"):
        await downloader.download(f"http://127.0.0.1:{web.port + 1}/")
    assert connections.addresses == []


async def test_a_bad_destination_is_refused_before_any_request(
    downloader: Downloader, web: FakeWeb
) -> None:
    with pytest.raises(WorkspaceError, match="escapes the workspace"):
        await downloader.download(f"{web.url}/file.txt", "../stolen.txt")
    assert web.requests == []


def test_a_bad_allow_list_entry_is_a_clear_error(workspace: Workspace) -> None:
    with refused("allow-list entry 'localhost:http' has an invalid port"):
        Downloader(workspace, allow_hosts=["localhost:http"])


# -- redirects that turn bad --------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/admin", "10.0.0.1 is a private address"),
        ("http://[::1]:{port}/file.txt", "::1 is a loopback address"),
        ("http://0x7f000001:{port}/", "'0x7f000001' is a non-standard way of writing 127.0.0.1"),
        ("file:///etc/passwd", "file: URLs cannot be downloaded"),
        ("gopher://10.0.0.1:6379/_FLUSHALL", "gopher: URLs cannot be downloaded"),
        ("http://bob:secret@example.com/", "URLs with a user name or password"),
    ],
)
async def test_redirects_to_forbidden_places_are_refused_before_connecting(
    downloader: Downloader,
    web: FakeWeb,
    workspace: Workspace,
    connections: ConnectionLog,
    target: str,
    message: str,
) -> None:
    target = target.format(port=web.port)
    with refused(f"refused redirect: {message}"):
        await downloader.download(f"{web.url}/redirect?to={target}")
    assert len(web.requests) == 1  # only the redirect itself was fetched
    assert connections.non_loopback == []
    assert files_in(workspace.root) == set()


async def test_a_redirect_to_loopback_is_refused_when_only_another_name_is_allowed(
    workspace: Workspace, web: FakeWeb, connections: ConnectionLog
) -> None:
    downloader = Downloader(workspace, allow_hosts=[f"localhost:{web.port}"])
    with refused("refused redirect: 127.0.0.1 is a loopback address"):
        await downloader.download(
            f"http://localhost:{web.port}/redirect?to=http://127.0.0.1:{web.port}/file.txt"
        )
    assert web.requests == [f"/redirect?to=http://127.0.0.1:{web.port}/file.txt"]
    assert connections.non_loopback == []


async def test_a_redirect_to_a_name_resolving_to_loopback_is_refused(
    downloader: Downloader, web: FakeWeb, connections: ConnectionLog
) -> None:
    target = f"http://localhost:{web.port}/file.txt"
    with pytest.raises(DownloadError, match="refused: localhost resolves to"):
        await downloader.download(f"{web.url}/redirect?to={target}")
    assert len(web.requests) == 1
    assert len(connections.addresses) == 1  # the first request's connection, nothing more


async def test_redirect_loops_are_cut(downloader: Downloader, web: FakeWeb) -> None:
    with refused(f"refused: {web.url}/loop redirected more than 5 times"):
        await downloader.download(f"{web.url}/loop")
    assert len(web.requests) == 6
    few = Downloader(downloader.workspace, allow_hosts=[web.host], max_redirects=0)
    with refused("redirected more than 0 times"):
        await few.download(f"{web.url}/redirect?to=/file.txt")


async def test_a_redirect_without_location_is_an_error(
    downloader: Downloader, web: FakeWeb
) -> None:
    with refused(f"{web.url}/status/302 redirected without a Location header"):
        await downloader.download(f"{web.url}/status/302")


# -- images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/page.html", "/page.html is served as text/html, not as an image"),
        ("/file.txt", "is served as text/plain, not as an image"),
        ("/html-as-png", "/html-as-png is served as image/png but its content is not an image"),
        ("/jpeg-as-png", "/jpeg-as-png is served as image/png but its content is JPEG"),
        ("/tiny-as-png", "is served as image/png but its content is not an image"),
        ("/vector.svg", "is image/svg+xml; only PNG, JPEG, GIF and WebP are accepted"),
    ],
)
async def test_things_that_are_not_images_are_refused(
    downloader: Downloader, web: FakeWeb, workspace: Workspace, path: str, message: str
) -> None:
    with refused(message):
        await downloader.download(f"{web.url}{path}", expect_image=True)
    assert files_in(workspace.root) == set()


async def test_without_expect_image_the_bytes_are_taken_as_they_are(
    downloader: Downloader, web: FakeWeb, workspace: Workspace
) -> None:
    result = await downloader.download(f"{web.url}/jpeg-as-png", "blob.bin")
    assert await workspace.read_bytes(result.path) == JPEG_BYTES


# -- bounds -------------------------------------------------------------------------------


async def test_a_declared_oversized_body_is_refused_before_reading(
    workspace: Workspace, web: FakeWeb
) -> None:
    downloader = Downloader(workspace, allow_hosts=[web.host], max_bytes=1000)
    with refused(f"refused: {web.url}/big/1001 is 1001 bytes; the limit is 1000 bytes"):
        await downloader.download(f"{web.url}/big/1001")
    assert (await downloader.download(f"{web.url}/big/1000")).size == 1000


async def test_an_undeclared_oversized_body_is_stopped_while_streaming(
    workspace: Workspace, web: FakeWeb
) -> None:
    downloader = Downloader(workspace, allow_hosts=[web.host], max_bytes=100 * 1024)
    with refused(f"download of {web.url}/stream/5000000 exceeded 100 KiB; stopped"):
        await downloader.download(f"{web.url}/stream/5000000")
    assert files_in(workspace.root) == set()
    exact = await downloader.download(f"{web.url}/stream/102400")
    assert exact.size == 102400


@pytest.mark.parametrize("path", ["/slow", "/hang"])
async def test_slow_and_endless_downloads_time_out(
    workspace: Workspace, web: FakeWeb, path: str
) -> None:
    downloader = Downloader(workspace, allow_hosts=[web.host], timeout=0.3)
    with refused(f"download of {web.url}{path} timed out after 0.3 s"):
        await downloader.download(f"{web.url}{path}")
    assert files_in(workspace.root) == set()


async def test_a_body_cut_short_leaves_nothing(
    downloader: Downloader, web: FakeWeb, workspace: Workspace
) -> None:
    with refused(f"download of {web.url}/cut was cut off before the end"):
        await downloader.download(f"{web.url}/cut")
    assert files_in(workspace.root) == set()


async def test_http_errors_are_one_line_and_keep_queries_out(
    downloader: Downloader, web: FakeWeb
) -> None:
    with refused(f"{web.url}/status/404 answered HTTP 404 Not Found") as caught:
        await downloader.download(f"{web.url}/status/404?signature=s3cr3t")
    assert "s3cr3t" not in str(caught.value)


async def test_a_server_that_is_not_there(workspace: Workspace, web: FakeWeb) -> None:
    closed_port = web.port
    await web.__aexit__(None, None, None)
    downloader = Downloader(workspace, allow_hosts=[f"127.0.0.1:{closed_port}"])
    with refused(f"could not download http://127.0.0.1:{closed_port}/x: cannot connect"):
        await downloader.download(f"http://127.0.0.1:{closed_port}/x")
