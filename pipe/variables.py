"""Reading the pipe's variables: every value arrives as text, and a bad one is explained.

The schema in pipe.py declares each variable once, in Cerberus' words (type, coerce, allowed,
regex, min, max, maxlength, check_with, default), and Cerberus, which the toolkit brings, checks
them: `PipeValidator` below teaches it to read the text Bitbucket passes in. The toolkit's own
reading (Pipe.validate) is replaced by `read_variables`, as it would
- exit through fail() with Cerberus' words ("unallowed value deploy"), before FAIL_ON_ERROR can
  turn a bad variable into a warning;
- parse every variable not typed `string` as YAML: `MAX_RETRIES: '010'` would be 8 (an octal),
  `TIMEOUT: '1:30'` 90 (base 60), `TIMEOUT: '.nan'` a NaN, and `DEBUG: '[x'` a traceback;
- read NAME_0 to NAME_<count> of a list before looking at the count, which may say a billion.
Each error names the variable, the value given and what is allowed, so that a user can fix them
all in one go.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import yaml
from bitbucket_pipes_toolkit import ArrayVariable
from cerberus import Validator
from cerberus.errors import COERCION_FAILED

from context import given, is_utf8
from printable import printable, without_password

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def boolean(text: str) -> bool | None:
    """`true`, `Yes`, ` on `... as True, their opposites as False, anything else as None."""
    word = text.strip().lower()
    return word in TRUE_WORDS if word in TRUE_WORDS | FALSE_WORDS else None


class InvalidVariables(Exception):
    """One line per problem, each naming its variable."""


class Variables(NamedTuple):
    values: dict[str, Any]
    trimmed: list[str]  # names given with spaces around them, now trimmed


NOT_UTF8 = (
    "{name} holds bytes that are not UTF-8 text, which Alert24 cannot take: give it a UTF-8 value."
)
MISSING_CA_BUNDLE = (
    "{name} is {path!r}, which does not exist: give the path of a CA bundle file inside the "
    "pipe's container (a file in the clone, e.g. $BITBUCKET_CLONE_DIR/ca.pem)."
)


class PipeValidator(Validator):
    """Cerberus, with coercers that read the text Bitbucket passes in. A coercer also sees the
    schema's defaults, which are already of their type; what it raises, Cerberus reports."""

    def _normalize_coerce_boolean(self, value: Any) -> Any:
        read = boolean(value) if isinstance(value, str) else value
        if read is None:
            raise ValueError("not a boolean")
        return read

    def _normalize_coerce_integer(self, value: Any) -> Any:
        return int(value.strip()) if isinstance(value, str) else value

    def _normalize_coerce_number(self, value: Any) -> Any:
        number = float(value.strip()) if isinstance(value, str) else value
        if not math.isfinite(number):  # 'nan' would slip past min and max: no order holds it
            raise ValueError("not a finite number")
        return number

    def _normalize_coerce_lowercase(self, value: Any) -> Any:
        """`HIGH` and ` high ` mean `high`: what a user obviously meant."""
        return value.strip().lower() if isinstance(value, str) else value

    def _normalize_coerce_trimmed(self, value: Any) -> Any:
        """A name with stray spaces around it would be another name in Alert24: another
        environment, another service. `had_spaces` says which were trimmed."""
        return value.strip() if isinstance(value, str) else value

    def _normalize_coerce_tags(self, value: Any) -> Any:
        """A YAML list (from NAME_COUNT and NAME_i, or typed as text: `"[web, api]"`), or a
        plain text split at its commas: each tag trimmed, and the blank ones left out."""
        if isinstance(value, str):
            value = flow_list(value) if value.lstrip().startswith("[") else value.split(",")
        return [tag.strip() for tag in value if tag and tag.strip()]

    def _normalize_coerce_base_url(self, value: Any) -> Any:
        """Whitespace around an address is a pasting accident; a scheme's case means nothing;
        a trailing slash neither: the address is normalised here, once."""
        if not isinstance(value, str):
            return value
        scheme, separator, rest = value.strip().partition("://")
        return f"{scheme.lower()}{separator}{rest.rstrip('/')}"

    def _check_with_host_name(self, field: str, value: Any) -> None:
        """A host requests could never reach fails here, by name, rather than as an unexpected
        error at the first request."""
        if not is_host_name(value):
            self._error(field, "not a host name")


def flow_list(text: str) -> list[str]:
    """`TAGS: "['payments', 'eu-west']"`, a YAML list typed as text, read as the list it means.
    Read by YAML's base loader, which keeps every item as the text written: `[on, 1.10]` stays
    'on' and '1.10' rather than True and 1.1. ValueError, in a user's words, for anything else."""
    try:
        items = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (builds text, lists, dicts only)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "it cannot be parsed"
        raise ValueError(f"it starts with [ but is not a YAML list ({problem})") from None
    if not isinstance(items, list):
        raise ValueError("it starts with [ but is not a YAML list")
    for number, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise ValueError(f"its item {number} is a {yaml_kind(item)}, not a tag")
    return items


def yaml_kind(item: Any) -> str:
    return "list" if isinstance(item, list) else "mapping"


def is_host_name(url: str) -> bool:
    """Whether requests could reach the URL's host."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number, a broken [IPv6] literal
        return False
    return port != 0 and not host_name_problem(host)


def host_name_problem(host: str) -> bool:
    """Whether `host` breaks the rules of DNS names: an empty label, or one over 63 characters,
    or more than 253 in all. IP literals pass (an IPv6 one is in brackets, and has no dots)."""
    if ":" in host:
        return False
    labels = host.rstrip(".").split(".")
    return len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels)


def cerberus_rules(schema: Mapping[str, dict], document: Mapping[str, Any]) -> dict[str, dict]:
    """What Cerberus needs for one run: the rules of the variables set (without their `meta`
    documentation, which it would check and never use), and the default of those not set.
    Cerberus checks each rule it is given twice, ~0.5 ms a variable; a run sets a few."""
    rules = {}
    for name, declared in schema.items():
        if name in document:
            rules[name] = {rule: value for rule, value in declared.items() if rule != "meta"}
        elif "default" in declared:
            rules[name] = {"default": copy.copy(declared["default"])}  # a list, new each run
    return rules


def read_variables(
    environ: Mapping[str, str],
    schema: Mapping[str, dict],
    validator: type[Validator] = PipeValidator,
) -> Variables:
    """The schema's variables from the environment, coerced, defaulted and checked by a
    `validator` made for those the run sets; every problem at once in InvalidVariables."""
    document: dict[str, Any] = {}
    problems = []
    for name, rules in schema.items():
        if rules.get("type") == "list":
            problems += read_list(environ, name, rules, document)
        elif given(environ, name) is not None:
            document[name] = environ[name]
    for name in unreadable(document):
        problems.append(NOT_UTF8.format(name=name))
        del document[name]
    problems += ca_bundle_problems(environ)
    checking = validator(cerberus_rules(schema, document))
    if not checking.validate(document) or problems:
        raise InvalidVariables("\n".join(explain(checking, schema, document) + problems))
    return Variables(checking.document, trimmed_names(document, schema))


def read_list(
    environ: Mapping[str, str], name: str, rules: Mapping[str, Any], document: dict[str, Any]
) -> list[str]:
    """A YAML list arrives as NAME_COUNT and NAME_0, NAME_1...; a plain NAME is kept for its
    coercer. The count is checked before any item is read: it could say a billion."""
    count = (given(environ, f"{name}_COUNT") or "").strip()
    limit = rules.get("maxlength")
    if not count:
        if given(environ, name) is not None:
            document[name] = environ[name]
        return []
    if not (count.isascii() and count.isdigit()):
        return [
            f"{name}_COUNT is {printable(count)!r}, which is not valid: give {name} as a YAML "
            f"list, and leave {name}_COUNT to Bitbucket."
        ]
    if limit is not None and int(count) > limit:
        return [f"{name} has {int(count)} items, which is too many: give at most {limit}."]
    document[name] = list(ArrayVariable(name, {**environ, f"{name}_COUNT": count}))
    return []


def unreadable(document: Mapping[str, Any]) -> list[str]:
    """Variables holding bytes that are not UTF-8, which no JSON body can carry unchanged."""
    names = []
    for name, value in document.items():
        values = value if isinstance(value, list) else [value]
        if not all(is_utf8(each) for each in values if isinstance(each, str)):
            names.append(name)
    return names


def ca_bundle_problems(environ: Mapping[str, str]) -> list[str]:
    """requests verifies Alert24's certificate with REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE,
    when set (a file, or a directory prepared by c_rehash); one that is not there would fail
    the request later, where the failure looks like a network problem. Read as requests reads
    them: empty is not set, a blank is a path."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = environ.get(name)
        if path:
            if os.path.exists(path):
                return []
            return [MISSING_CA_BUNDLE.format(name=name, path=printable(path))]
    return []


def trims(rules: Mapping[str, Any]) -> bool:
    coerce = rules.get("coerce", ())
    return bool({"trimmed", "tags"} & set([coerce] if isinstance(coerce, str) else coerce))


def had_spaces(value: str | list | None) -> bool:
    if isinstance(value, list):
        return any(had_spaces(each) for each in value)
    return isinstance(value, str) and value != value.strip()


def trimmed_names(document: Mapping[str, Any], schema: Mapping[str, dict]) -> list[str]:
    """The names given with spaces around them (a tag, for TAGS), which their coercer removed.
    The commas of `TAGS: 'web, api'` are not stray spaces."""
    return [name for name, value in document.items() if trims(schema[name]) and had_spaces(value)]


def explain(
    validator: Validator, schema: Mapping[str, dict], document: dict[str, Any]
) -> list[str]:
    lines = []
    for name in sorted(validator.errors):
        rules = schema[name]
        secret = rules.get("meta", {}).get("secret")
        shown = "(hidden)" if secret else repr(shown_value(document.get(name)))
        lines.append(f"{name} is {shown}, which is not valid: {why(validator, name, rules)}.")
    return lines


def why(validator: Validator, name: str, rules: Mapping[str, Any]) -> str:
    """What is allowed; for TAGS, first what its coercer found wrong, which it says in a user's
    words (the other coercers' errors are Python's, and not shown)."""
    if rules.get("coerce") == "tags":
        errors = validator.document_error_tree[name].errors
        said = [str(error.info[0]) for error in errors if error.code == COERCION_FAILED.code]
        return "; ".join([*said, expected(rules)])
    return expected(rules)


def shown_value(value: Any) -> Any:
    """A value as an error message may quote it: on one line, cut, with no URL password."""
    if isinstance(value, list):
        return [shown_value(each) for each in value]
    return without_password(printable(value)) if isinstance(value, str) else value


def expected(rules: Mapping[str, Any]) -> str:
    if "allowed" in rules:
        return "use one of " + ", ".join(rules["allowed"])
    if rules.get("type") == "list":
        return (
            f"give a YAML list of at most {rules.get('maxlength')}, e.g. [web, api], or one text "
            "with commas: 'web, api'"
        )
    if rules.get("type") == "boolean":
        return "use 'true' or 'false'"
    if "meta" in rules and "expects" in rules["meta"]:
        return rules["meta"]["expects"]
    return f"expected a {rules.get('type', 'value')}"


# Variables that are not the pipe's: a misspelt one is named ---------------------------------

# Set in every pipe's container by the base image, Bitbucket, a shell, or read by requests.
OTHERS = re.compile(
    r"BITBUCKET_\w*|PYTHON\w*|LC_\w+|(HTTPS?|ALL|NO|FTP)_PROXY|(REQUESTS|CURL)_CA_BUNDLE"
    r"|SSL_CERT_(FILE|DIR)|PATH|HOME|LANG|LANGUAGE|HOSTNAME|PWD|OLDPWD|SHLVL|TERM|USER|SHELL"
    r"|GPG_KEY|CI|DOCKER_HOST|PIPELINES_\w*|_",
    re.IGNORECASE,
)
LIST_PART = re.compile(r"(?P<name>.+)_(?:COUNT|\d+)")


def misspelt(environ: Iterable[str], schema: Mapping[str, dict]) -> list[tuple[str, str]]:
    """(given, meant) for each variable set that is not the pipe's but close to one of its
    names: a letter off (ENVIROMENT), an underscore off (ALERT24_APIKEY), or its case
    (environment). Only names: a misspelt ALERT24_API_KEY holds a secret."""
    unknown = sorted(unknown_names(environ, schema))
    if not unknown:
        return []
    import difflib  # noqa: PLC0415 (~1.5 ms to import, for the few runs that set a name to compare)

    squeezed = {name.replace("_", ""): name for name in schema}
    found = []
    for name in unknown:
        key = name.upper()
        close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.8)
        meant = squeezed.get(key.replace("_", "")) or (close[0] if close else None)
        if meant:
            found.append((name, meant))
    return found


def unknown_names(environ: Iterable[str], schema: Mapping[str, dict]) -> set[str]:
    """The variables set that are neither the pipe's nor known to be someone else's."""
    names = set(environ)
    unknown = set()
    for name in names:
        part = LIST_PART.fullmatch(name)
        # `TAG: [a, b]` arrives as TAG_COUNT, TAG_0, TAG_1: one variable, TAG.
        variable = part["name"] if part and f"{part['name']}_COUNT" in names else name
        if variable not in schema and not OTHERS.fullmatch(variable):
            unknown.add(variable)
    return unknown
