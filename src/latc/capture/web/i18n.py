"""The language of a request (the user's ``Membership.language``) and the UI string catalog.

Dictionary text (form, field, note and choice labels) comes from ``latc_dictionary.<lang>.yaml``
(:mod:`latc.dictionary.translations`); the web UI's own strings are in ``UI`` below, keyed by the
English text.  ``tr(text)`` gives the current language's text, English when none exists (never blank).
"""

from __future__ import annotations

import contextvars
import re

from latc.dictionary.translations import Translation, load_translation

_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("latc_language", default="en")

UI: dict[str, dict[str, str]] = {"zh-hans": {
    "Dashboard": "工作台", "Queries": "质疑", "New patient": "新建患者", "Export": "导出",
    "Audit trail": "稽查轨迹", "Users": "用户", "Two-factor": "双因素认证", "Log out": "退出登录",
    "Skip to content": "跳到正文", "Language": "语言", "Switch": "切换", "all centers": "所有中心",
    "Casebook": "病例本", "version": "版本", "saved": "保存于", "source-verified": "已源数据核查", "locked": "已锁定",
    "required": "必填", "history": "历史", "Every change of this field": "本字段的全部修改",
    "query opened": "质疑已发出", "query answered": "质疑已回复", "query open": "质疑未关闭",
    "Asked when": "显示条件：", "Reason for change": "修改原因",
    "Nothing was saved: correct the fields marked in red.": "未保存：请更正标红的字段。",
    "Nothing was saved: see “Reason for change” below the form.": "未保存：请见表单下方的“修改原因”。",
    "A value that was already saved is being changed: say why (e.g. “transcription error, source: CT report 2024-03-02”). Recorded in the audit trail.":
        "正在修改已保存的值：请说明原因（例如“转录错误，来源：CT 报告 2024-03-02”）。原因记入稽查轨迹。",
    "Form status": "表单状态", "Incomplete (still being filled in)": "未完成（仍在填写）", "Complete": "已完成",
    "Save": "保存", "Save and add another": "保存并再添加一条", "Save and back to the casebook": "保存并返回病例本",
    "Cancel": "取消", "next field": "下一字段", "saves": "保存", "saves from a notes box": "在文本框中保存",
    "The casebook is locked: read only.": "病例本已锁定：只读。", "Read only for your role.": "您的角色只能查看。",
    "Other open queries on this record": "本记录的其他未关闭质疑", "Source data verification": "源数据核查",
    "Mark this form source-verified": "标记本表单已完成源数据核查", "Open a query": "发出质疑", "Open query": "发出质疑",
    "Delete this record": "删除本记录", "Reason": "原因", "Delete": "删除", "new": "新建",
    "date yyyy-mm-dd": "日期 yyyy-mm-dd", "whole number": "整数", "number": "数值", "usually": "通常",
    "Field": "字段", "Question to the site": "向中心提出的问题",
    "Log in": "登录", "Username": "用户名", "Password": "密码",
    "Language changed.": "语言已切换。",
    "(not a code of the value set)": "（不是值集中的代码）",
}}

#: rule messages (latc.capture.validation / the dictionary's rule codes): code → template in each
#: language; an unknown code falls back to the English message with its code, never blank
RULE_MESSAGES: dict[str, dict[str, str]] = {"zh-hans": {
    "required": "必填字段，不能为空",
    "type": "类型不正确（日期请用 yyyy-mm-dd；数值只填数字）",
    "range": "超出允许范围",
    "choice": "不是值集中的代码",
    "pattern": "格式不正确",
    "soft_range": "超出通常范围，请核实",
    "show_if": "根据分支条件，此字段应为空",
    "date_order": "日期先后顺序不合理",
}}


def get_language() -> str:
    return _LANG.get()


def set_current(language: str):
    return _LANG.set(language or "en")


def tr(text: str) -> str:
    lang = _LANG.get()
    if lang == "en" or not text:
        return text
    return UI.get(lang, {}).get(text, text)


def dictionary_translation() -> Translation | None:
    return load_translation(_LANG.get())


def rule_message(code: str | None, english: str) -> str:
    """The message of a rule code in the current language; English + code when no template exists."""
    lang = _LANG.get()
    if lang == "en":
        return english
    t = RULE_MESSAGES.get(lang, {}).get(code or "")
    if t:
        return t
    return f"{english} [{code}]" if code else english


class LanguageMiddleware:
    """Sets the request's language from the user's membership (after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lang = "en"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            from latc.capture.models import Membership

            m = Membership.objects.filter(user=user).only("language").first()
            if m is not None and m.language:
                lang = m.language
        token = set_current(lang)
        request.LANGUAGE_CODE = lang
        try:
            response = self.get_response(request)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
            response.headers.setdefault("Content-Language", lang)
            return response
        finally:
            _LANG.reset(token)


_WS = re.compile(r"\s+")
