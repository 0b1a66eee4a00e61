"""Source text to syntax tree, with the limits that keep hostile input cheap.

The LALR parser builds the tree bottom-up through an embedded transformer, so no step is
recursive and the nesting limit is enforced while building: a formula nested 10,000 deep
is refused at level 65 without ever reaching Python's recursion limit.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tessera.formula.ast import Binary, Call, Literal, Node, Path, Unary
from tessera.formula.errors import FormulaError
from tessera.formula.grammar import GRAMMAR

MAX_LENGTH = 10_000
MAX_DEPTH = 64
#: Digits a number literal may have: the precision of formula arithmetic.
MAX_DIGITS = 38

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
_OPS = {"!=": "<>", "==": "=", "||": "OR", "&&": "AND", "!": "NOT"}
_TOKEN_NAMES = {
    "RPAR": '")"', "LPAR": '"("', "COMPARE": "a comparison", "ADD": '"+" or "-"', "MUL": '"*" or "/"',
    "AMP": '"&"', "NUMBER": "a number", "STRING": "a text", "NAME": "a field", "FUNC": "a function",
    "COMMA": '","', "DOT": '"."', "$END": "the end of the formula", "OR": "OR", "AND": "AND",
    "NOT": "NOT", "TRUE": "TRUE", "FALSE": "FALSE", "CONTEXT": "a $ value",
}


class _Limit(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


class _Bad(Exception):
    """A problem found while building, before the source text is at hand."""

    def __init__(self, message: str, pos: int, end: int | None = None) -> None:
        self.message, self.pos, self.end = message, pos, end


def _deepen(node: Node, *children: Node) -> Node:
    node.depth = 1 + max((c.depth for c in children), default=0)
    if node.depth > MAX_DEPTH:
        raise _Limit(node)
    return node


class _Build(Transformer[Token, Node]):
    """Called by the parser on every reduction; turns lark tokens into our nodes."""

    def number(self, items: list[Token]) -> Node:
        (tok,) = items
        digits = len(tok.value.replace(".", "").lstrip("0"))
        if digits > MAX_DIGITS:
            raise _Bad(f"a number may have at most {MAX_DIGITS} digits", tok.start_pos, tok.end_pos)
        return Literal(tok.start_pos, tok.end_pos, Decimal(tok.value), "number")

    def string(self, items: list[Token]) -> Node:
        (tok,) = items
        return Literal(tok.start_pos, tok.end_pos, _unescape(tok), "text")

    def true(self, items: list[Token]) -> Node:
        return Literal(items[0].start_pos, items[0].end_pos, True, "boolean")

    def false(self, items: list[Token]) -> Node:
        return Literal(items[0].start_pos, items[0].end_pos, False, "boolean")

    def path(self, items: list[Token]) -> Node:
        first = items[0]
        context = first.type == "CONTEXT"
        parts = tuple(t.value.lstrip("$") if i == 0 else t.value for i, t in enumerate(items))
        offsets = tuple(t.start_pos + (1 if i == 0 and context else 0) for i, t in enumerate(items))
        return Path(first.start_pos, items[-1].end_pos, parts=parts, offsets=offsets, context=context)

    def call(self, items: list[Any]) -> Node:
        name, _lpar, args, rpar = items
        arguments = tuple(args or ())
        node = Call(name.start_pos, rpar.end_pos, name=name.value.upper(), args=arguments)
        return _deepen(node, *arguments)

    def args(self, items: list[Node]) -> list[Node]:
        return list(items)

    def group(self, items: list[Any]) -> Node:
        node: Node = items[1]
        # Parentheses count toward nesting, or "((((…))))" would be free.
        node = _deepen(node, node)
        return node

    def unary(self, items: list[Any]) -> Node:
        op, operand = items
        symbol = _OPS.get(op.value, op.value.upper())
        return _deepen(Unary(op.start_pos, operand.end, op=symbol, operand=operand), operand)

    def binary(self, items: list[Any]) -> Node:
        left, op, right = items
        symbol = _OPS.get(op.value, op.value.upper())
        node = Binary(left.start, right.end, op=symbol, left=left, right=right, op_pos=op.start_pos)
        return _deepen(node, left, right)


def _unescape(tok: Token) -> str:
    body = tok.value[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and len(body) >= i + 6 and all(c in "0123456789abcdefABCDEF" for c in body[i + 2 : i + 6]):
            code = int(body[i + 2 : i + 6], 16)
            if 0xD800 <= code <= 0xDFFF:
                raise _Bad("a text may not contain a lone surrogate", tok.start_pos + 1 + i)
            out.append(chr(code))
            i += 6
        else:
            raise _Bad(f'unknown escape "\\{nxt}" in a text (use \\\\ for a backslash)',
                       tok.start_pos + 1 + i, tok.start_pos + 3 + i)
    return "".join(out)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    # The transformer runs inside the parser on each reduction: no recursive tree walk.
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=True, transformer=_Build())


def parse(source: str) -> Node:
    """The syntax tree of `source`, or a FormulaError pointing at the problem.

    Not cached: the checker annotates the tree it gets. Checked and compiled formulas are
    cached further up (see tessera.formula.api).
    """
    if not isinstance(source, str):
        raise FormulaError("a formula must be text")
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"a formula may be at most {MAX_LENGTH:,} characters long", source, MAX_LENGTH)
    return _parse(source)


def _parse(source: str) -> Node:
    if not source.strip() or _only_comments(source):
        raise FormulaError("the formula is empty", source, 0)
    if "\x00" in source:
        raise FormulaError("a formula may not contain NUL characters", source, source.index("\x00"))
    lark = _lark()
    try:
        tree = lark.parse(source)
        assert isinstance(tree, Node)
        return tree
    except _Bad as bad:
        raise FormulaError(bad.message, source, bad.pos, bad.end) from None
    except _Limit as limit:
        raise FormulaError(f"the formula is nested too deeply (at most {MAX_DEPTH} levels)", source,
                           limit.node.start) from None
    except UnexpectedInput as error:
        raise _syntax_error(error, source) from None
    except LarkError as error:  # any other parser failure is still the formula's fault
        inner = getattr(error, "orig_exc", None)
        if isinstance(inner, _Bad):
            raise FormulaError(inner.message, source, inner.pos, inner.end) from None
        if isinstance(inner, _Limit):
            raise FormulaError(f"the formula is nested too deeply (at most {MAX_DEPTH} levels)", source,
                               inner.node.start) from None
        raise FormulaError("the formula cannot be read", source, 0) from None
    except RecursionError:
        raise FormulaError(f"the formula is nested too deeply (at most {MAX_DEPTH} levels)", source, 0) from None


def _only_comments(source: str) -> bool:
    import re

    return not re.sub(r"//[^\n]*|/\*(.|\n)*?\*/|\s", "", source)


def _syntax_error(error: UnexpectedInput, source: str) -> FormulaError:
    pos = error.pos_in_stream if error.pos_in_stream is not None else len(source)
    if isinstance(error, UnexpectedCharacters):
        ch = source[pos] if pos < len(source) else ""
        if ch in "\"'":
            return FormulaError("this text is never closed: add the closing quote", source, pos)
        if source.startswith("/*", pos):
            return FormulaError("this comment is never closed: add */", source, pos, pos + 2)
        return FormulaError(f'unexpected character "{ch}"', source, pos)
    if isinstance(error, UnexpectedEOF):
        return FormulaError("the formula ends too early: an expression or a closing parenthesis is missing",
                            source, len(source))
    assert isinstance(error, UnexpectedToken)
    tok = error.token
    if tok.type == "$END":
        return FormulaError("the formula ends too early: an expression or a closing parenthesis is missing",
                            source, len(source))
    expected = sorted({_TOKEN_NAMES.get(t, t) for t in error.expected if not t.startswith("__")})
    shown = f'"{tok.value}"' if tok.value else _TOKEN_NAMES.get(tok.type, tok.type)
    hint = f"; expected {', '.join(expected[:6])}" if expected and len(expected) <= 6 else ""
    if tok.type == "RPAR":
        message = f"unexpected {shown}: an expression is missing or a parenthesis is not opened"
    elif tok.type == "NAME" and tok.value.upper() in {"THEN", "ELSE", "END", "IS", "NULL"}:
        message = f'"{tok.value}" is not part of the formula language; use IF(condition, then, else) and BLANK()'
    else:
        message = f"unexpected {shown}{hint}"
    return FormulaError(message, source, tok.start_pos if tok.start_pos is not None else pos,
                        tok.end_pos if tok.end_pos is not None else None)
