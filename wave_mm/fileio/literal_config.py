"""Reading a config stored as text in a checkpoint, without running it.

MMEngine stores the run's config in ``meta['cfg']`` as Python source. A
checkpoint may come from anyone, so that text is parsed, never executed:
only a top-level assignment made of literals (numbers, strings, ``None``,
``True``/``False``, lists, tuples, ``{...}``, ``dict(key=...)`` and
``dict({...})``) is
read; anything else (a call, a name, an attribute, an operator) is refused
with the path of the value at fault.
"""
import ast
from typing import Any

from .errors import TemplatesFileError

#: Longest config text and deepest nesting read.
MAX_TEXT = 1 << 22
MAX_DEPTH = 32


def literal_assignment(text: Any, name: str, source: str) -> Any:
    """The value assigned to ``name`` at the top level of config ``text``.

    Args:
        text: The config's Python source.
        name: The variable, e.g. ``'model'``.
        source: Where ``text`` came from, for error messages.

    Raises:
        TemplatesFileError: ``text`` is not a string, does not parse,
            assigns no ``name``, or the value is not a literal.
    """
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise TemplatesFileError(
            f'{source}: the stored config is not text of at most {MAX_TEXT} '
            'characters')
    try:
        tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise TemplatesFileError(
            f'{source}: the stored config does not parse ({err})') from None
    value = None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == name):
            value = node.value
    if value is None:
        raise TemplatesFileError(
            f'{source}: the stored config assigns no {name!r}')
    return _literal(value, name, source, 0)


def _literal(node: ast.AST, where: str, source: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise TemplatesFileError(
            f'{source}: {where} is nested deeper than {MAX_DEPTH} levels')
    if isinstance(node,
                  ast.Constant) and not isinstance(node.value,
                                                   (bytes, type(...))):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)):
        return -node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [
            _literal(item, f'{where}[{i}]', source, depth + 1)
            for i, item in enumerate(node.elts)
        ]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant)
                    and isinstance(key.value, str)):
                raise TemplatesFileError(
                    f'{source}: {where} has a key that is not a string')
            out[key.value] = _literal(value, f'{where}.{key.value}', source,
                                      depth + 1)
        return out
    # dict(k=v) and dict({'k-1': v}), as MMEngine's pretty_text writes
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and len(node.args) <= 1
            and all(isinstance(a, ast.Dict) for a in node.args)
            and all(k.arg is not None for k in node.keywords)):
        out = _literal(node.args[0], where, source, depth) if node.args else {}
        out.update({
            k.arg:
            _literal(k.value, f'{where}.{k.arg}', source, depth + 1)
            for k in node.keywords
        })
        return out
    raise TemplatesFileError(
        f'{source}: {where} in the stored config is not a literal '
        f'({type(node).__name__}); it is not evaluated. Pass the run\'s '
        'config file instead')
