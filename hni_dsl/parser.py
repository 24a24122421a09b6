"""Text -> :class:`~hni_dsl.ast.Script`.

Lark's LALR parser with an indentation post-lexer builds the typed AST as it parses
(:class:`~hni_dsl.ast_builder.AstBuilder`), with no parse tree in between. Every Lark failure is translated
into :class:`~hni_dsl.errors.HniSyntaxError` with a position and a message in words ("expected `with`, found
`pool`"), never a raw Lark exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

from lark import Lark, Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.indenter import Indenter

from . import ast
from .ast_builder import AstBuilder, BadClassName, bad_names
from .codes import Code
from .collector import collector_paused
from .errors import Diagnostic, HniSyntaxError
from .suggest import did_you_mean

__all__ = ["KEYWORDS", "grammar_text", "parse"]


def grammar_text() -> str:
    """The grammar: packaged inside the wheel, or read from the source tree's ``grammar/``."""
    packaged = resources.files("hni_dsl") / "_grammar" / "hni.lark"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source_tree = Path(__file__).resolve().parent.parent / "grammar" / "hni.lark"
    return source_tree.read_text(encoding="utf-8")


def _keywords(grammar: str) -> frozenset[str]:
    """The grammar's words: its quoted literals (`"class"`) and its whole-word terminals (`/forbid\\b/`)."""
    return frozenset(re.findall(r'"([a-z]+)"', grammar) + re.findall(r"/([a-z]+)\\b/", grammar))


# Read from the grammar, so that a new statement's keyword is reserved where it is written.
KEYWORDS = _keywords(grammar_text())

# Words for the grammar's named terminals, used in "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a class name",
    "STRING": "a quoted class name",
    "INT": "a number",
    "ARROW": "`->` or `<->`",
    "SLOT": "a slot like `c1`",
    "_FORBID": "`forbid`",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "end of block",
    "$END": "end of script",
}

_EDIT_WORDS = frozenset(["replace", "add", "drop"])

_comments: ContextVar[list[Token]] = ContextVar("hni_comments")


class _HniIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar[list[str]] = []
    CLOSE_PAREN_types: ClassVar[list[str]] = []
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def handle_NL(self, token: Token) -> Iterator[Token]:
        # Same as Lark's, but an inconsistent dedent becomes a positioned syntax error.
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        open_levels = list(self.indent_level)
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            line = token.end_line or token.line or 1
            levels = " or ".join(str(level) for level in open_levels)
            raise _IndentError(
                line,
                len(indent_str) + 1,
                f"inconsistent indentation: {indent} columns matches no enclosing block "
                f"(indent by {levels} columns here)",
            )


class _IndentError(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _collect_comment_tokens(token: Token) -> Token:
    sink = _comments.get(None)
    if sink is not None:
        sink.append(token)
    return token


_source: ContextVar[str] = ContextVar("hni_source")
_WORD_AT = re.compile(r"[A-Za-z0-9_]+")


def _whole_keyword(token: Token) -> Token:
    """A keyword lexed off the front of a longer word (`dropp`, `dropconcept`, `edges` where only `edge` may
    follow) becomes that whole word, as a name: where the parser accepts no name the contextual lexer would
    otherwise split the word, and the error would point at its tail (`found p`)."""
    text = _source.get("")
    glued = _WORD_AT.match(text, token.end_pos) if token.end_pos is not None else None
    if glued is None:
        return token
    return Token.new_borrow_pos("NAME", str(token) + glued.group(), token)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        postlex=_HniIndenter(),
        maybe_placeholders=False,
        keep_all_tokens=True,
        transformer=AstBuilder(),
        lexer_callbacks={"_NL": _collect_comment_tokens, **{word.upper(): _whole_keyword for word in KEYWORDS}},
    )


def _describe_expected(expected: set[str]) -> str:
    lark = _lark()
    words = []
    patterns = {t.name: t.pattern for t in lark.terminals}
    for name in sorted(expected):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
        elif name in patterns and patterns[name].type == "str":
            words.append(f"`{patterns[name].value}`")
        else:
            words.append(name.lower())
    words = sorted(set(words))
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(token: Token) -> str:
    if token.type in ("_NL",):
        return "end of line"
    if token.type == "_INDENT":
        return "an indented line"
    if token.type == "_DEDENT":
        return "end of block"
    if token.type == "$END":
        return "end of script"
    return f"`{token}`"


def _keyword_hint(word: str, expected: set[str]) -> str:
    """A "did you mean" for a misspelt keyword, among the keywords the parser would accept here."""
    lark = _lark()
    patterns = {t.name: t.pattern for t in lark.terminals}
    candidates = [patterns[n].value for n in expected if n in patterns and patterns[n].type == "str"]
    if "_FORBID" in expected:
        candidates.append("forbid")
    return did_you_mean(word, [c for c in candidates if c.isalpha()])


def _split_hint(word: str, expected: set[str]) -> str:
    """`dropconcept` -> "write `drop concept`": two keywords run together, the first one accepted here."""
    for keyword in sorted(KEYWORDS, key=len, reverse=True):
        if word.startswith(keyword) and word[len(keyword) :] in KEYWORDS and keyword.upper() in expected:
            return f"; write `{keyword} {word[len(keyword) :]}`, with a space"
    return ""


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines = lines[:-1] or [""]
    return len(lines), len(lines[-1]) + 1


def _word_at(text: str, at: int, reach: int = 64) -> str:
    """The run of letters, digits and _ around offset ``at``, at most ``reach`` characters each side (a 10 MB
    line, or an error on each of 100,000 lines, costs no more than one short line); '' where there is none."""
    if not 0 <= at < len(text):
        return ""
    window = text[max(0, at - reach) : at + reach]
    offset = at - max(0, at - reach)
    left = re.search(r"\w*$", window[:offset])
    right = re.match(r"\w*", window[offset:])
    return (left.group() if left else "") + (right.group() if right else "")


def _translate(exc: Exception, text: str, file: str) -> Diagnostic:
    """One diagnostic for one Lark failure, in words."""
    if isinstance(exc, _IndentError):
        return Diagnostic(Code.E005, exc.message, exc.line, exc.column, file=file)
    if isinstance(exc, BadClassName):
        return Diagnostic(Code.E006, exc.message, exc.line, exc.column, length=exc.length, file=file)
    if isinstance(exc, UnexpectedCharacters):
        line, column = exc.line, exc.column
        char = exc.char
        if char == '"':
            rest = text.split("\n")[line - 1][column - 1 :] if line - 1 < len(text.split("\n")) else char
            return Diagnostic(
                Code.E003,
                'unterminated string: a quoted class name must end with `"` on the same line',
                line,
                column,
                length=len(rest.rstrip()) or 1,
                file=file,
            )
        allowed = set(exc.allowed or ())
        interactive = getattr(exc, "interactive_parser", None)
        if interactive is not None:  # exact, unlike the lexer's merged `allowed` set
            allowed = set(interactive.accepts()) or allowed
        expected_words = _describe_expected(allowed) if allowed else None
        shown = char if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
        message = f"unexpected character `{shown}`"
        word = _word_at(text, exc.pos_in_stream or 0) if char.isalnum() and not char.isascii() else ""
        if word:
            message += f'; a class name beyond A-Z, a-z, 0-9 and _ is written in quotes: "{word}"'
        elif char in "-=<>" and "ARROW" in allowed:
            message += "; an edge is written `A->B` or `A<->B`"
        elif expected_words:
            message += f"; expected {expected_words}"
        return Diagnostic(Code.E002, message, line, column, file=file)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        # `accepts` simulates the parser, so it is exact where LALR's merged `expected` set is not.
        expected = set(getattr(exc, "accepts", None) or exc.expected or ())
        if token.type == "$END":
            line, column = _end_position(text)
            return Diagnostic(
                Code.E004,
                f"unexpected end of script; expected {_describe_expected(expected)}",
                line,
                column,
                file=file,
            )
        line = token.line or 1
        column = token.column or 1
        if token.type in ("_NL", "_DEDENT"):
            # Position the caret just after the last token of the unfinished line.
            line, column = _end_of_code(text, token)
        message = f"expected {_describe_expected(expected)}, found {_describe_token(token)}"
        if token.type == "NAME":
            message += _split_hint(str(token), expected) or _keyword_hint(str(token), expected)
        word = _word_at(text, token.start_pos or 0) if token.type == "INT" and "NAME" in expected else ""
        if word and word != str(token):
            message += f'; a class name that starts with a digit is written in quotes: "{word}"'
        if str(token) in _EDIT_WORDS and "CLASS" in expected:
            message += "; edits go inside a block: `class NAME: ...`"
        elif (
            "COMMA" in expected and "LIKE" not in expected and text.split("\n")[line - 1].lstrip().startswith("define")
        ):
            message += "; a definition ends with `, edges like CLASS`"
        elif "DOT" in expected and _FORBID_THEN_WORD.search(_code_before(text, line, column)):
            message += (
                "; `forbid` names a concept: `forbid concept N`, `forbid pool[N]`, "
                "`forbid OTHER.pool[N]` or `forbid OTHER.cN`"
            )
        if token.type == "_INDENT":
            message = "unexpected indentation: only the lines of a `class NAME:` block are indented"
            column = len(str(token)) + 1
            line = token.end_line or line
        length = len(str(token)) if token.type not in ("_NL", "_INDENT", "_DEDENT") else 1
        return Diagnostic(Code.E001, message, line, column, length=max(1, length), file=file)
    if isinstance(exc, UnexpectedEOF):
        line, column = _end_position(text)
        return Diagnostic(Code.E004, "unexpected end of script", line, column, file=file)
    raise exc  # not a syntax failure: a bug, let it surface


_FORBID_THEN_WORD = re.compile(r"\bforbid\s+[A-Za-z_][A-Za-z0-9_]*\s*$")


def _code_before(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    return lines[line - 1][: column - 1] if 1 <= line <= len(lines) else ""


def _end_of_code(text: str, nl_token: Token) -> tuple[int, int]:
    """Line and column just after the code that precedes a newline token (skipping its comment)."""
    line = nl_token.line or 1
    lines = text.split("\n")
    if line - 1 < len(lines):
        code = lines[line - 1][: (nl_token.column or 1) - 1].rstrip()
        return line, len(code) + 1
    return _end_position(text)


def _comments_from(tokens: list[Token]) -> tuple[ast.Comment, ...]:
    """Comments, with their line and whether they follow code on the same line."""
    found = []
    for token in tokens:
        line = token.line or 1
        first_chunk = True
        for chunk in re.split(r"(\r?\n)", str(token)):
            if chunk in ("\n", "\r\n"):
                line += 1
                first_chunk = False
                continue
            stripped = chunk.strip()
            if stripped.startswith("#"):
                trailing = first_chunk and (token.column or 1) > 1
                found.append(ast.Comment(line=line, text=stripped.rstrip(), trailing=trailing))
    return tuple(found)


def _trailing_comment_is_code_line(text: str, comment: ast.Comment) -> bool:
    lines = text.split("\n")
    before = lines[comment.line - 1].split("#", 1)[0] if comment.line - 1 < len(lines) else ""
    return bool(before.strip())


def parse(text: str, file: str = "<script>") -> ast.Script:
    """Parse a script. Raises :class:`HniSyntaxError` (with line, column and code) on any bad text.

    >>> script = parse("class fire_engine: replace concept 2 with pool[7]; drop edge 2->4")
    >>> [edit.kind for edit in script.statements[0].edits]
    ['replace_concept', 'drop_edge']
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the script text as str (got {type(text).__name__})")
    source = text if text.endswith("\n") else text + "\n"
    sink: list[Token] = []
    reset = _comments.set(sink)
    reset_source = _source.set(source)
    try:
        with collector_paused(), bad_names() as names:
            statements: tuple[ast.Statement, ...] = _lark().parse(source)  # type: ignore[assignment]
        if names:
            raise names[0]
    except (UnexpectedInput, _IndentError, BadClassName) as exc:
        raise HniSyntaxError([_translate(exc, source, file)], source=text) from None
    finally:
        _comments.reset(reset)
        _source.reset(reset_source)
    comments = tuple(
        c.model_copy(update={"trailing": c.trailing and _trailing_comment_is_code_line(source, c)})
        for c in _comments_from(sink)
    )
    blank = frozenset(i + 1 for i, line in enumerate(source.split("\n")) if not line.strip())
    return ast.Script(statements=statements, trivia=ast.ScriptTrivia(comments=comments, blank_lines=blank))
