"""``relay demo``: the classic example end to end through the real master, bus and agents,
offline, with plain output when stdout is not a terminal (run in-process through
``main(argv)``)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import ANSI_ESCAPE, RelayMain

from agent_relay.runtime import TaskResult


def test_demo_makes_the_page_and_the_picture(relay_main: RelayMain, tmp_path: Path) -> None:
    # Even with an OpenAI key around, the demo neither calls a model nor draws remotely.
    env = {"OPENAI_API_KEY": "sk-unused-by-the-demo", "OPENAI_BASE_URL": "http://127.0.0.1:9"}
    proc = relay_main("demo", env=env)
    assert proc.returncode == 0, proc.stderr
    pages = list((tmp_path / "relay-workspace").glob("*/index.html"))
    assert len(pages) == 1
    page = pages[0]
    task_dir = page.parent
    picture = task_dir / "sunset.png"
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = page.read_text(encoding="utf-8")
    assert 'src="sunset.png"' in html and 'href="style.css"' in html
    assert "<title>A sunset over mountains</title>" in html
    assert "body" in (task_dir / "style.css").read_text(encoding="utf-8")
    # It says where the page is, in full.
    assert str(page.resolve()) in proc.stdout
    # Plain output: one line per event, no escape codes; s3 starts once s1 and s2 are done.
    assert not ANSI_ESCAPE.search(proc.stdout)
    lines = proc.stdout.splitlines()
    assert "plan: s3 file (after s1, s2)" in proc.stdout
    s3_started = lines.index("s3 file: started")
    for done in ("s1 image: completed", "s2 code: completed"):
        assert any(line.startswith(done) for line in lines[:s3_started]), done
    assert "completed" in proc.stdout and "sunset.png" in proc.stdout
    assert proc.stderr == ""


def test_demo_json_is_a_task_result(relay_main: RelayMain, tmp_path: Path) -> None:
    proc = relay_main("demo", "--json", "--workspace", "out")
    assert proc.returncode == 0, proc.stderr
    result = TaskResult.model_validate(json.loads(proc.stdout))
    assert result.status == "completed"
    assert [s.agent for s in result.steps] == ["image", "code", "file"]
    assert result.step("s3").depends_on == ["s1", "s2"]
    assert {a.path for a in result.artifacts} == {"sunset.png", "style.css", "index.html"}
    assert (tmp_path / "out" / result.task_id / "index.html").is_file()
