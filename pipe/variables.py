"""Reading the pipe's variables: every value arrives as text, and a bad one is explained.

The toolkit parses non-string variables as YAML and reports Cerberus' own words ("unallowed value
deploy"). Here each variable is coerced from its text by the rule its schema names, and each
error names the variable, the value given and what is allowed, so a user can fix it in one go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bitbucket_pipes_toolkit import ArrayVariable
from cerberus import Validator

from printable import printable, without_password

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


class InvalidVariables(Exception):
    """One line per problem, each naming its variable."""


NOT_UTF8 = (
    "{name} holds bytes that are not UTF-8 text, which Alert24 cannot take: give it a UTF-8 value."
)


class PipeValidator(Validator):
    """Cerberus, with coercers that read the text Bitbucket passes in."""

    def _normalize_coerce_boolean(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        return value

    def _normalize_coerce_lowercase(self, value: Any) -> Any:
        """`HIGH` and ` high ` mean `high`: what a user obviously meant."""
        return value.strip().lower() if isinstance(value, str) else value

    def _normalize_coerce_tags(self, value: Any) -> Any:
        """A plain `TAGS: 'payments, eu-west'` is a comma-separated list, not a mistake."""
        return [tag.strip() for tag in value.split(",")] if isinstance(value, str) else value

    def _normalize_coerce_base_url(self, value: Any) -> Any:
        """Whitespace around an address is a pasting accident; a scheme's case means nothing."""
        if not isinstance(value, str):
            return value
        scheme, separator, rest = value.strip().partition("://")
        return f"{scheme.lower()}{separator}{rest}"

    def _check_with_host_name(self, field: str, value: Any) -> None:
        """A host requests could never reach fails here, by name, rather than as an unexpected
        error at the first request."""
        try:
            parts = urlsplit(value)
            host, port = parts.hostname or "", parts.port
        except ValueError:  # a port that is not a number, a broken [IPv6] literal
            host, port = "", None
        if port == 0 or host_name_problem(host):
            self._error(field, "not a host name")

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
            problem = read_list(environ, name, rules, document)
            if problem:
                problems.append(problem)
        elif environ.get(name, "") != "":
            # `X: $UNSET` in `variables:` arrives empty; it means "not set", so the default applies.
            document[name] = environ[name]
    problems += [NOT_UTF8.format(name=name) for name in unreadable(document)]
    if not validator.validate(document) or problems:
        raise InvalidVariables("\n".join(explain(validator, schema, document) + problems))
    return validator.document


def read_list(
    environ: Mapping[str, str], name: str, rules: Mapping[str, Any], document: dict[str, Any]
) -> str | None:
    """A YAML list arrives as NAME_COUNT and NAME_0, NAME_1...; a plain NAME is kept for its
    coercer. The count is checked before any item is read: it could say a billion."""
    count = environ.get(f"{name}_COUNT", "").strip()
    limit = rules.get("maxlength")
    if not count:
        if environ.get(name):
            document[name] = environ[name]
        return None
    if not (count.isascii() and count.isdigit()):
        return (
            f"{name}_COUNT is {printable(count)!r}, which is not valid: give {name} as a YAML "
            f"list, and leave {name}_COUNT to Bitbucket."
        )
    if limit is not None and int(count) > limit:
        return f"{name} has {int(count)} items, which is too many: give at most {limit}."
    document[name] = list(ArrayVariable(name, {**environ, f"{name}_COUNT": count}))
    return None


def host_name_problem(host: str) -> bool:
    """Whether `host` breaks the rules of DNS names: an empty label, or one over 63 characters,
    or more than 253 in all. IP literals pass (an IPv6 one is in brackets, and has no dots)."""
    if ":" in host:
        return False
    labels = host.rstrip(".").split(".")
    return len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels)


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
        value = document.get(name)
        shown = "(hidden)" if meta.get("secret") else repr(shown_value(value))
        lines.append(f"{name} is {shown}, which is not valid: {expected(rules)}.")
    return lines


def shown_value(value: Any) -> Any:
    """A value as an error message may quote it: on one line, cut, with no URL password."""
    if isinstance(value, list):
        return [shown_value(each) for each in value]
    return without_password(printable(value)) if isinstance(value, str) else value


def expected(rules: dict) -> str:
    if "allowed" in rules:
        return "use one of " + ", ".join(rules["allowed"])
    if rules.get("type") == "list":
        return "give a YAML list, e.g. [web, api], or one text with commas: 'web, api'"
    if rules.get("type") == "boolean":
        return "use 'true' or 'false'"
    if "meta" in rules and "expects" in rules["meta"]:
        return rules["meta"]["expects"]
    return f"expected a {rules.get('type', 'value')}"
