"""No SQL is built by string formatting anywhere in cockpit/: values go as parameters.

Parses every module and looks at what is passed to ``execute``/``executemany`` (psycopg,
sqlite, ...): an f-string, a ``%`` expression or a ``.format()`` call there is how SQL
injection starts, even when today's value looks harmless. Identifiers go through
``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "cockpit"
EXECUTORS = {"execute", "executemany"}


def _is_sql_composition(node: ast.expr) -> bool:
    """``sql.SQL("... {}").format(sql.Identifier(x))``: psycopg quotes what it composes."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "SQL"


def formatted(node: ast.expr) -> str | None:
    """Why ``node`` is SQL built by string formatting, or None."""
    if isinstance(node, ast.JoinedStr):
        if any(isinstance(v, ast.FormattedValue) for v in node.values):
            return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        if isinstance(node.left, ast.Constant | ast.JoinedStr) or formatted(node.left):
            return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return formatted(node.left) or formatted(node.right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and not _is_sql_composition(node.func.value)
    ):
        return ".format()"
    return None


def violations(source: str, filename: str) -> list[str]:
    tree = ast.parse(source, filename)
    # Names assigned from formatting anywhere in the module, to catch ``sql = f"..."; execute(sql)``.
    tainted: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            why = formatted(node.value)
            if why:
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        tainted[t.id] = why
    out = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTORS
            and node.args
        ):
            continue
        arg = node.args[0]
        why = formatted(arg) or (tainted.get(arg.id) if isinstance(arg, ast.Name) else None)
        if why:
            out.append(f"{filename}:{node.lineno}: {why} passed to {node.func.attr}()")
    return out


def test_no_sql_is_built_by_string_formatting_in_cockpit() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        found += violations(path.read_text(), str(path.relative_to(ROOT.parent)))
    assert found == [], "use parameters (%s with a tuple), not formatting:\n" + "\n".join(found)


def test_the_checker_catches_each_shape() -> None:
    bad = '''
conn.execute(f"select * from t where id = {user_id}")
cur.execute("select * from t where id = %s" % user_id)
cur.execute("select * from t where id = {}".format(user_id))
sql = f"select {col} from t"
cur.execute(sql)
cur.executemany("insert into t values (" + f"{x}" + ")", rows)
conn.execute(f"select pg_sleep({SLOW_QUERY_SECONDS})")
'''
    assert [v.split(": ", 1)[1] for v in violations(bad, "x.py")] == [
        "f-string passed to execute()",
        "% formatting passed to execute()",
        ".format() passed to execute()",
        "f-string passed to execute()",
        "f-string passed to executemany()",
        "f-string passed to execute()",
    ]
    good = '''
conn.execute("select * from t where id = %s", (user_id,))
conn.execute(SNAPSHOT_SQL)
conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
'''
    assert violations(good, "y.py") == []
