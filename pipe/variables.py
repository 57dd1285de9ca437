"""Reading the pipe's variables: every value arrives as text, and a bad one is explained.

The schema in pipe.py declares each variable once, in Cerberus' words (type, coerce, allowed,
regex, min, max, maxlength, check_with, default). It is read here by the few lines below rather
than by Cerberus itself: Cerberus checks the schema and then the values through ~200 child
validators, 9 ms of every run (measured; a whole run is ~30 ms above the toolkit's import), for
the handful of rules the pipe uses. Each error names the variable, the value given and what is
allowed, so a user can fix them all in one go; a test keeps the schema valid for Cerberus too.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from bitbucket_pipes_toolkit import ArrayVariable

from context import is_utf8
from printable import printable, without_password

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "list": (list,),
}


def boolean(text: str) -> bool | None:
    """`true`, `Yes`, ` on `... as True, their opposites as False, anything else as None."""
    word = text.strip().lower()
    return word in TRUE_WORDS if word in TRUE_WORDS | FALSE_WORDS else None


class InvalidVariables(Exception):
    """One line per problem, each naming its variable."""


NOT_UTF8 = (
    "{name} holds bytes that are not UTF-8 text, which Alert24 cannot take: give it a UTF-8 value."
)


def coerce_boolean(value: str) -> bool:
    read = boolean(value)
    if read is None:
        raise ValueError(value)
    return read


def coerce_lowercase(value: str) -> str:
    """`HIGH` and ` high ` mean `high`: what a user obviously meant."""
    return value.strip().lower()


def coerce_tags(value: str | list) -> list:
    """A plain `TAGS: 'payments, eu-west'` is a comma-separated list, not a mistake."""
    return [tag.strip() for tag in value.split(",")] if isinstance(value, str) else value


def coerce_base_url(value: str) -> str:
    """Whitespace around an address is a pasting accident; a scheme's case means nothing."""
    scheme, separator, rest = value.strip().partition("://")
    return f"{scheme.lower()}{separator}{rest}"


def coerce_number(value: str) -> float:
    number = float(value.strip())
    if not math.isfinite(number):  # 'nan' would slip past min and max: no order holds it
        raise ValueError(value)
    return number


def is_host_name(url: str) -> bool:
    """Whether requests could reach the URL's host: a host it could never reach fails here, by
    name, rather than as an unexpected error at the first request."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number, a broken [IPv6] literal
        return False
    return port != 0 and not host_name_problem(host)


COERCE: dict[str, Callable[[Any], Any]] = {
    "boolean": coerce_boolean,
    "integer": lambda value: int(value.strip()),
    "number": coerce_number,
    "lowercase": coerce_lowercase,
    "tags": coerce_tags,
    "base_url": coerce_base_url,
}
CHECK_WITH: dict[str, Callable[[Any], bool]] = {"host_name": is_host_name}


class Variables(NamedTuple):
    """The schema's reader, handed to the toolkit's Pipe as its validator."""

    schema: Mapping[str, dict]

    def read(self, environ: Mapping[str, str]) -> dict[str, Any]:
        return read_variables(environ, self.schema)


def read_variables(environ: Mapping[str, str], schema: Mapping[str, dict]) -> dict[str, Any]:
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
    unreadable_names = unreadable(document)
    problems += [NOT_UTF8.format(name=name) for name in unreadable_names]
    values, invalid = {}, []
    for name, rules in schema.items():
        if name in unreadable_names:
            continue
        if name not in document:
            if "default" in rules:
                values[name] = copy.copy(rules["default"])
            continue
        try:
            values[name] = checked(document[name], rules)
        except (ValueError, TypeError, AttributeError):
            invalid.append(name)
    if invalid or problems:
        raise InvalidVariables("\n".join(explain(invalid, schema, document) + problems))
    return values


def checked(value: Any, rules: Mapping[str, Any]) -> Any:
    """The value coerced by its rules; ValueError when it breaks one of them."""
    if "coerce" in rules:
        value = COERCE[rules["coerce"]](value)
    broken = (
        not isinstance(value, TYPES[rules.get("type", "string")])
        or ("allowed" in rules and value not in rules["allowed"])
        or ("regex" in rules and not re.fullmatch(rules["regex"], value))
        or ("min" in rules and value < rules["min"])
        or ("max" in rules and value > rules["max"])
        or ("maxlength" in rules and len(value) > rules["maxlength"])
        or ("check_with" in rules and not CHECK_WITH[rules["check_with"]](value))
    )
    if broken:
        raise ValueError(value)
    return value


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
        if not all(is_utf8(each) for each in values if isinstance(each, str)):
            names.append(name)
    return names


def explain(names: list[str], schema: Mapping[str, dict], document: dict[str, Any]) -> list[str]:
    lines = []
    for name in sorted(names):
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
