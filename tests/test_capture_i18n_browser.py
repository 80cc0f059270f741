"""Every Chinese label renders (issue #13 item 3): a zh-hans user opens the diagnosis form in
Debian's chromium; the screenshot (docs/img/capture_form_zh.png) was looked at for tofu boxes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from test_capture_web_browser import CHROMIUM, _login, chromium_browser, live_server  # noqa: E402,F401

SHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "capture_form_zh.png"


def _cjk_font() -> bool:
    try:
        out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.strip())


pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not _cjk_font(), reason="no CJK font installed (apt-get install fonts-noto-cjk): "
                                               "Chinese would render as tofu boxes"),
]


def test_chinese_form_renders_in_chromium(live_server, chromium_browser, tmp_path):  # noqa: F811
    """The screenshot goes to tmp_path; LATC_UPDATE_SCREENSHOTS=1 writes docs/img/capture_form_zh.png
    (a test run does not change the source tree)."""
    from _capture_web import seed_web
    from conftest import CAPTURE_TEST_PASSWORD as PW
    from latc.capture.models import Membership

    base, users = live_server
    data = seed_web(users)
    Membership.objects.filter(user=users["site_entry"]).update(language="zh-hans")
    page = _login(chromium_browser, base, users["site_entry"].get_username(), PW)
    page.goto(f"/patients/{data['own']['pid']}/diagnosis/1/")
    shot = SHOT if os.environ.get("LATC_UPDATE_SCREENSHOTS") == "1" else tmp_path / SHOT.name
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=False)
    assert "诊断与基线分期" in page.locator("h1").inner_text()
    for text in ("组织学类型", "原发肿瘤最大径"):
        assert page.locator("label", has_text=text).first.is_visible(), text
    assert page.locator("button", has_text="保存").first.is_visible()
    assert "甲状腺乳头状癌（DTC）" in page.locator("#id_f-histology").inner_text()
    assert not page.js_errors, page.js_errors


def test_chinese_query_thread_renders_in_chromium(live_server, chromium_browser, tmp_path):  # noqa: F811
    """The query thread of a site user in Chinese (docs/img/capture_query_zh.png with LATC_UPDATE_SCREENSHOTS=1)."""
    from _capture_web import seed_web
    from conftest import CAPTURE_TEST_PASSWORD as PW
    from latc.capture.models import Membership

    base, users = live_server
    data = seed_web(users)
    Membership.objects.filter(user=users["site_entry"]).update(language="zh-hans")
    page = _login(chromium_browser, base, users["site_entry"].get_username(), PW)
    page.goto(f"/queries/{data['own']['query']}/")
    shot = SHOT.with_name("capture_query_zh.png")
    shot = shot if os.environ.get("LATC_UPDATE_SCREENSHOTS") == "1" else tmp_path / shot.name
    page.screenshot(path=str(shot), full_page=True)
    assert "质疑" in page.locator("h1").inner_text() and "组织学类型" in page.locator("h1").inner_text()
    assert page.locator("button", has_text="发送回复").is_visible()
    assert page.locator("label", has_text="更正后的数值").is_visible()
    assert not page.js_errors, page.js_errors
