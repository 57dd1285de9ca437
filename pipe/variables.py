"""Reading the pipe's variables: every value arrives as text, and a bad one is explained.

The toolkit parses non-string variables as YAML and reports Cerberus' own words ("unallowed value
deploy"). Here each variable is coerced from its text by the rule its schema names, and each
error names the variable, the value given and what is allowed, so a user can fix it in one go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bitbucket_pipes_toolkit import ArrayVariable
from cerberus import Validator

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


class InvalidVariables(Exception):
    """One line per problem, each naming its variable."""


class PipeValidator(Validator):
    """Cerberus, with coercers that read the text Bitbucket passes in."""

    def _normalize_coerce_boolean(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        return value

    def _normalize_coerce_integer(self, value: Any) -> Any:
        return int(value.strip()) if isinstance(value, str) else value

    def _normalize_coerce_number(self, value: Any) -> Any:
        number = float(value.strip()) if isinstance(value, str) else value
        if not math.isfinite(number):  # 'nan' would slip past min and max: no order holds it
            raise ValueError(f"{value!r} is not a finite number")
        return number


def cerberus_rules(schema: Mapping[str, dict]) -> dict[str, dict]:
    """The schema without its `meta` documentation, which Cerberus would check on every run
    (~2 ms of a pipe's start-up) and never use."""
    return {name: {k: v for k, v in rules.items() if k != "meta"} for name, rules in schema.items()}


def read_variables(
    environ: Mapping[str, str], validator: PipeValidator, schema: Mapping[str, dict]
) -> dict[str, Any]:
    """The schema's variables from the environment, coerced, defaulted and checked."""
    document: dict[str, Any] = {}
    problems = []
    for name, rules in schema.items():
        if rules.get("type") == "list":
            count = environ.get(f"{name}_COUNT")
            if count is not None and not (count.isascii() and count.isdigit()):
                problems.append(
                    f"{name}_COUNT is {count!r}, which is not valid: give {name} as a YAML list, "
                    f"and leave {name}_COUNT to Bitbucket."
                )
            elif count is not None:
                document[name] = list(ArrayVariable(name, environ))
            elif environ.get(name):
                document[name] = environ[name]  # a plain value where a list belongs: explained
        elif environ.get(name, "") != "":
            # `X: $UNSET` in `variables:` arrives empty; it means "not set", so the default applies.
            document[name] = environ[name]
    problems += [f"{name} holds bytes that are not UTF-8 text." for name in unreadable(document)]
    if not validator.validate(document) or problems:
        raise InvalidVariables("\n".join(explain(validator, schema, document) + problems))
    return validator.document


def unreadable(document: Mapping[str, Any]) -> list[str]:
    """Variables holding bytes that are not UTF-8 (Python keeps them as lone surrogates),
    which no JSON body can carry unchanged."""
    names = []
    for name, value in document.items():
        values = value if isinstance(value, list) else [value]
        try:
            for each in values:
                if isinstance(each, str):
                    each.encode("utf-8")
        except UnicodeEncodeError:
            names.append(name)
    return names


def explain(
    validator: Validator, schema: Mapping[str, dict], document: dict[str, Any]
) -> list[str]:
    lines = []
    for name in sorted(validator.errors):
        rules = schema.get(name, {})
        meta = rules.get("meta", {})
        shown = "(hidden)" if meta.get("secret") else repr(document.get(name))
        lines.append(f"{name} is {shown}, which is not valid: {expected(rules)}.")
    return lines


def expected(rules: dict) -> str:
    if "allowed" in rules:
        return "use one of " + ", ".join(rules["allowed"])
    if rules.get("type") == "list":
        return "give a YAML list, e.g. [web, api] or one '- value' per line"
    if rules.get("type") == "boolean":
        return "use 'true' or 'false'"
    if "meta" in rules and "expects" in rules["meta"]:
        return rules["meta"]["expects"]
    return f"expected a {rules.get('type', 'value')}"
