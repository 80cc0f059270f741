"""Branching conditions (``show_if``) for one record at a time, and as data for the browser.

The dictionary's :class:`latc.dictionary.Condition` evaluates a whole table (pandas); a web form
needs the same truth for one record, on the server (status, completeness) and in the browser
(``static/capture/capture.js`` shows and hides fields live).  Both mirror
``latc.dictionary._model._eval`` exactly:

* values compare as raw codes, stripped of surrounding blanks; a blank value is *missing*;
* ``==`` / ``!=`` / ``in`` with a missing value are false; ``not in`` with a missing value is
  **true** (pandas: ``isin`` → False, negated);
* ``and`` / ``or`` combine the (already boolean) parts.

``condition_data`` turns a condition into a small JSON tree that the browser evaluates with the
same rules (``tests/test_capture_web_browser.py`` checks the two agree).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from latc.dictionary import Condition


def _const(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    raise ValueError(f"unsupported value in condition: {ast.dump(node)}")


def _tree(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.BoolOp):
        return {"op": "and" if isinstance(node.op, ast.And) else "or", "args": [_tree(v) for v in node.values]}
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name):
        op, right = node.ops[0], node.comparators[0]
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple)):
            return {"op": "in" if isinstance(op, ast.In) else "notin", "field": node.left.id,
                    "values": [_const(v) for v in right.elts]}
        if isinstance(op, ast.Eq):
            return {"op": "eq", "field": node.left.id, "value": _const(right)}
        if isinstance(op, ast.NotEq):
            return {"op": "ne", "field": node.left.id, "value": _const(right)}
    raise ValueError(f"unsupported condition: {ast.unparse(node)}")


def condition_tree(cond: Condition) -> dict[str, Any]:
    """The condition as a JSON-able tree: ``{"op": "eq", "field": "cm", "value": "M1"}`` etc."""
    return _tree(cond.tree)


def condition_data(cond: Condition) -> str:
    """The tree as compact JSON, for a ``data-show-if`` attribute (Django escapes it)."""
    return json.dumps(condition_tree(cond), separators=(",", ":"), ensure_ascii=False)


def _value(values: Mapping[str, Any], name: str) -> str | None:
    v = values.get(name)
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _eval(tree: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    op = tree["op"]
    if op == "and":
        return all(_eval(t, values) for t in tree["args"])
    if op == "or":
        return any(_eval(t, values) for t in tree["args"])
    v = _value(values, tree["field"])
    if op == "notin":
        return v is None or v not in tree["values"]
    if v is None:
        return False
    if op == "in":
        return v in tree["values"]
    if op == "eq":
        return v == tree["value"]
    if op == "ne":
        return v != tree["value"]
    raise ValueError(f"unknown operator {op!r}")


def evaluate(cond: Condition | None, values: Mapping[str, Any]) -> bool:
    """Truth of ``cond`` on one record's raw values (``None`` → always shown)."""
    return True if cond is None else _eval(condition_tree(cond), values)


def shown_fields(form, values: Mapping[str, Any]) -> set[str]:
    """Names of the form's fields that are asked for these values (``show_if`` true or absent)."""
    return {f.name for f in form.fields if evaluate(f.show_if, values)}


def describe(cond: Condition, form) -> str:
    """The condition in the clinic's words in the reader's language, from the form's (translated)
    labels: ``vital_status == 'dead'`` → ``Vital status is "Dead"`` / ``生存状态 为 "死亡"``.
    In English the same text as :meth:`latc.dictionary.Condition.describe`."""
    from latc.capture.web.i18n import choice_labels, field_label, tr

    def words(t: Mapping[str, Any]) -> str:
        if t["op"] in ("and", "or"):
            return f" {tr('and') if t['op'] == 'and' else tr('or')} ".join(words(a) for a in t["args"])
        try:
            f = form[t["field"]]
            label, labels = field_label(f), (choice_labels(f) if f.choices else {})
        except KeyError:
            label, labels = t["field"], {}
        vals = [f'"{labels.get(v, v)}"' for v in (t["values"] if "values" in t else [t["value"]])]
        listed = ", ".join(vals[:-1]) + f" {tr('or')} " + vals[-1] if len(vals) > 1 else vals[0]
        if t["op"] in ("ne", "notin"):
            return tr("{field} is not {values}", field=label, values=listed)
        return tr("{field} is {values}", field=label, values=listed)

    return words(condition_tree(cond))
