"""The variables' reader: the schema's rules as Cerberus would apply them, without its cost."""

from __future__ import annotations

import pytest
from cerberus import Validator
from hypothesis import given, settings
from hypothesis import strategies as st

from pipe import schema
from variables import CHECK_WITH, COERCE, InvalidVariables, read_variables


def cerberus_validator() -> Validator:
    """Cerberus, taught the pipe's coercers and checks: the reference the reader must match."""

    def coercer(function):
        return lambda self, value: function(value) if isinstance(value, str) else value

    def check(function):
        def check_with(self, field, value):
            if not function(value):
                self._error(field, "not allowed")

        return check_with

    methods = {f"_normalize_coerce_{name}": coercer(f) for name, f in COERCE.items()}
    methods |= {f"_check_with_{name}": check(f) for name, f in CHECK_WITH.items()}
    rules = {name: {k: v for k, v in r.items() if k != "meta"} for name, r in schema.items()}
    return type("Reference", (Validator,), methods)(rules)  # raises SchemaError if invalid


def test_the_schema_is_one_cerberus_accepts():
    cerberus_validator()


def accepts(environ: dict[str, str]) -> bool:
    try:
        read_variables(environ, schema)
    except InvalidVariables:
        return False
    return True


VALUES = st.one_of(
    st.sampled_from(["true", "FALSE", " yes", "maybe", "3", "-1", "0.1", "nan", "1e3", "11",
                     "HIGH", " low ", "deploy", "https://a.example", "http://x..y", "HTTPS://h/p",
                     "https://h/api", "abc" * 14, "0123456789abcdef0123456789abcdef01234567"]),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = [name for name, rules in schema.items() if rules.get("type") != "list"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(SCALARS), VALUES.filter(bool), max_size=4))
def test_the_reader_accepts_exactly_what_cerberus_accepts(environ):
    reference = cerberus_validator()
    assert accepts(environ) == reference.validate(dict(environ)), reference.errors


@given(st.dictionaries(st.sampled_from(SCALARS), VALUES.filter(bool), max_size=4))
def test_what_the_reader_accepts_it_reads_as_cerberus_does(environ):
    reference = cerberus_validator()
    if accepts(environ) and reference.validate(dict(environ)):
        assert read_variables(environ, schema) == reference.document


def test_defaults_apply_to_what_is_not_given():
    read = read_variables({}, schema)
    assert read["TIMEOUT"] == 10
    assert read["TAGS"] == []
    assert "SUMMARY" not in read


@pytest.mark.parametrize("name", ["TIMEOUT", "MAX_RETRIES", "RISK_LEVEL", "ALERT24_BASE_URL"])
def test_every_problem_is_named_at_once(name):
    environ = {"TIMEOUT": "x", "MAX_RETRIES": "x", "RISK_LEVEL": "x", "ALERT24_BASE_URL": "x"}
    with pytest.raises(InvalidVariables, match=f"{name} is 'x', which is not valid"):
        read_variables(environ, schema)
