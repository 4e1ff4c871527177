"""The .env parser: godotenv's own test cases, our stricter refusals, and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_operator.dotenv import DotenvError, parse

# (text, expected variables): taken from godotenv's godotenv_test.go where they apply.
GODOTENV_CASES = [
    ("FOO=bar", {"FOO": "bar"}),
    ("FOO =bar", {"FOO": "bar"}),
    ("FOO= bar", {"FOO": "bar"}),
    ('FOO="bar"', {"FOO": "bar"}),
    ("FOO='bar'", {"FOO": "bar"}),
    ('FOO="escaped\\"bar"', {"FOO": 'escaped"bar'}),
    ("FOO=\"'d'\"", {"FOO": "'d'"}),
    ("OPTION_A: 1", {"OPTION_A": "1"}),
    ("OPTION_A: Foo=bar", {"OPTION_A": "Foo=bar"}),
    ("OPTION_A=1:B", {"OPTION_A": "1:B"}),
    ("export OPTION_A=2", {"OPTION_A": "2"}),
    ("export OPTION_B='\\n'", {"OPTION_B": "\\n"}),
    ("export exportFoo=2", {"exportFoo": "2"}),
    ("exportFOO=2", {"exportFOO": "2"}),
    ("export_FOO =2", {"export_FOO": "2"}),
    ("export.FOO= 2", {"export.FOO": "2"}),
    ("export\tOPTION_A=2", {"OPTION_A": "2"}),
    ("  export OPTION_A=2", {"OPTION_A": "2"}),
    ('FOO="bar\\nbaz"', {"FOO": "bar\nbaz"}),
    ("FOO.BAR=foobar", {"FOO.BAR": "foobar"}),
    ("FOO=foobar=", {"FOO": "foobar="}),
    ("FOO=bar ", {"FOO": "bar"}),
    ("KEY=value value", {"KEY": "value value"}),
    ("FOO=bar # this is foo", {"FOO": "bar"}),
    ('FOO="bar#baz" # comment', {"FOO": "bar#baz"}),
    ("FOO='bar#baz' # comment", {"FOO": "bar#baz"}),
    ('FOO="bar#baz#bang" # comment', {"FOO": "bar#baz#bang"}),
    ('FOO="ba#r"', {"FOO": "ba#r"}),
    ("FOO='ba#r'", {"FOO": "ba#r"}),
    ('FOO="bar\\n\\ b\\az"', {"FOO": "bar\n baz"}),
    ('FOO="bar\\\\\\n\\ b\\az"', {"FOO": "bar\\\n baz"}),
    ('FOO="bar\\\\r\\ b\\az"', {"FOO": "bar\\r baz"}),
    ("---\nKEY:value", {"KEY": "value"}),
    (" KEY =value", {"KEY": "value"}),
    ("\tKEY=value", {"KEY": "value"}),
    (" \t \t\n\t \t A=a\n", {"A": "a"}),
    (" \t\t export    A=a\n", {"A": "a"}),
    ("A=a \t \t\n", {"A": "a"}),
    ("KEY: value value\n", {"KEY": "value value"}),
    # variable expansion
    ("FOO=test\nBAR=$FOO", {"FOO": "test", "BAR": "test"}),
    ("FOO=test\nBAR=${FOO}bar", {"FOO": "test", "BAR": "testbar"}),
    ("BAR=$FOO", {"BAR": ""}),
    ('FOO=test\nBAR="quote $FOO"', {"FOO": "test", "BAR": "quote test"}),
    ("BAR='quote $FOO'", {"BAR": "quote $FOO"}),
    ('FOO="foo\\$BAR"', {"FOO": "foo$BAR"}),
    ('FOO="foo\\${BAR}"', {"FOO": "foo${BAR}"}),
    ('FOO=test\nBAR="foo\\${FOO} ${FOO}"', {"FOO": "test", "BAR": "foo${FOO} test"}),
    # comments, blank lines, CRLF, multi-line and repeated keys
    ("# comment\n\n\t # indented comment\nA=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ('A="line one\nline two"\nB=2', {"A": "line one\nline two", "B": "2"}),
    ("A='one\ntwo'", {"A": "one\ntwo"}),
    ("A=1\nA=2", {"A": "2"}),
    ("A=", {"A": ""}),
    ("A=\nB=2", {"A": "", "B": "2"}),
    ('A=""', {"A": ""}),
    ("A=#not-a-comment", {"A": "#not-a-comment"}),
    ("A=x#y", {"A": "x#y"}),
    ("A=a #b #c", {"A": "a #b"}),
    ('A="v"#comment', {"A": "v"}),
    ('A="a\\\\"', {"A": "a\\"}),
    (
        "GOPHER_DEPLOY_KEY=-----BEGIN_OPENSSH_PRIVATE_KEY-----:b3Blbn:-----END",
        {"GOPHER_DEPLOY_KEY": "-----BEGIN_OPENSSH_PRIVATE_KEY-----:b3Blbn:-----END"},
    ),
    (
        "GOPHER_CUSTOM_REPOSITORY=git@github.com:org/robot.git",
        {"GOPHER_CUSTOM_REPOSITORY": "git@github.com:org/robot.git"},
    ),
]


@pytest.mark.parametrize(("text", "expected"), GODOTENV_CASES)
def test_parse_matches_godotenv(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected


def test_parse_keeps_file_order() -> None:
    assert list(parse("B=1\nA=2\nC=3")) == ["B", "A", "C"]


def test_blank_and_comment_only_text_gives_no_variables() -> None:
    assert parse("\n\r\n\t\t \n# Comment\n\t # comment") == {}


ERROR_CASES = [
    ("lol$wut", 1, "expected KEY=VALUE"),
    ("A=1\n\nSECRETVALUE\n", 3, "expected KEY=VALUE"),
    ('="value"', 1, "variable name is empty"),
    ("MY-KEY=1", 1, "only letters, digits"),
    ("A B=1", 1, "only letters, digits"),
    ("A=1\nB='unterminated\nC=3", 2, "single-quoted value has no closing quote"),
    ('A=1\nB="unterminated\nC=3', 2, "double-quoted value has no closing quote"),
    ('A="v" trailing', 1, "unexpected text after the closing quote"),
    ('A="multi\nline" trailing', 2, "unexpected text after the closing quote"),
]


@pytest.mark.parametrize(("text", "line", "rule"), ERROR_CASES)
def test_bad_lines_name_line_and_rule(text: str, line: int, rule: str) -> None:
    with pytest.raises(DotenvError) as caught:
        parse(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert rule in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ["MARKERvalue", "A='MARKERvalue", 'A="MARKERvalue', 'A="x" MARKERvalue', "MARK-ERvalue=1", "MARKER value=2"],
)
def test_error_messages_hold_no_part_of_the_line(text: str) -> None:
    with pytest.raises(DotenvError) as caught:
        parse(text)
    assert "MARK" not in str(caught.value)
    assert "value" not in str(caught.value).replace("value has", "").replace("KEY=VALUE", "")


MARKER = "ZQXMARKER"


def _parse_or_error(text: str) -> dict[str, str] | DotenvError:
    """The parse result, or the DotenvError it raised (any other exception fails the test)."""
    try:
        return parse(text)
    except DotenvError as error:
        return error


_PIECES = st.sampled_from(
    ["A", "B_1", "export ", "=", ":", " ", "\t", "\n", "\r\n", "#", "'", '"', "\\", "$", "${", "}", "---\n", MARKER]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=30).map("".join))
def test_any_text_parses_or_raises_dotenv_error(text: str) -> None:
    outcome = _parse_or_error(text)
    if isinstance(outcome, DotenvError):
        assert MARKER not in str(outcome)
        assert str(outcome).startswith(f"line {outcome.line}: ")
        assert 1 <= outcome.line <= text.count("\n") + 1
    else:
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in outcome.items())


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["'", '"', ""]),
    st.sampled_from(["", " trailing", "\nBAD LINE", "\n='x'"]),
)
def test_values_with_a_marker_never_reach_error_messages(value: str, quote: str, tail: str) -> None:
    text = f"KEY={quote}{MARKER}{value}{quote}{tail}"
    outcome = _parse_or_error(text)
    if isinstance(outcome, DotenvError):
        assert MARKER not in str(outcome)
    else:
        assert "KEY" in outcome


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", blacklist_characters='\\"$'), max_size=40))
def test_double_quoted_values_round_trip(value: str) -> None:
    assert parse(f'KEY="{value}"') == {"KEY": value.replace("\r\n", "\n")}
