"""Reading the pipe's variables: every value arrives as text, and a bad one is explained.

pipe.py's schema declares each variable once, in Cerberus' words; `PipeValidator` teaches
Cerberus, which the toolkit brings, to read text. `read_variables` replaces the toolkit's own
reading (Pipe.validate), as it would
- exit through fail() with Cerberus' words ("unallowed value deploy"), before FAIL_ON_ERROR can
  turn a bad variable into a warning;
- parse every variable not typed `string` as YAML: `MAX_RETRIES: '010'` would be 8 (an octal),
  `TIMEOUT: '1:30'` 90 (base 60), `TIMEOUT: '.nan'` a NaN, and `DEBUG: '[x'` a traceback;
- read NAME_0 to NAME_<count> of a list before looking at the count, which may say a billion.
Each error names the variable, the value given and what is allowed: all fixed in one go.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
import urllib3
import yaml
from bitbucket_pipes_toolkit import ArrayVariable
from cerberus import Validator
from cerberus.errors import COERCION_FAILED

from context import given, is_utf8
from jira import NotAProjectKey, project_keys
from printable import printable, proxy_variables, without_password

YES, NO = ("true", "yes", "on", "1"), ("false", "no", "off", "0")  # any case, any spaces around
BOOLEANS = dict.fromkeys(YES, True) | dict.fromkeys(NO, False)


def boolean(text: str) -> bool | None:
    return BOOLEANS.get(text.strip().lower())


class InvalidVariables(Exception):
    """One line per problem, each naming its variable."""


class Variables(NamedTuple):
    values: dict[str, Any]
    trimmed: list[str]  # names given with spaces around them, now trimmed


def on_text(read: Callable[[str], Any]) -> Callable[[Validator, Any], Any]:
    """A coercer of the text Bitbucket passes in; it also sees the schema's defaults, which are
    already of their type. What it raises, Cerberus reports."""
    return lambda _, value: read(value) if isinstance(value, str) else value


def finite(number: float) -> float:
    if not math.isfinite(number):  # 'nan' would slip past min and max: no order holds it
        raise ValueError("not a finite number")
    return number


def base_url(text: str) -> str:
    """Spaces around an address are a pasting accident; a scheme's case and a trailing slash
    mean nothing."""
    scheme, separator, rest = text.strip().partition("://")
    return f"{scheme.lower()}{separator}{rest.rstrip('/')}"


NOT_UTF8 = "holds bytes that are not UTF-8 text, which Alert24 cannot take: give it a UTF-8 value."


class PipeValidator(Validator):
    """Cerberus, taught to read text. (int() and float() strip spaces, but not all of those
    str.strip() does.)"""

    _normalize_coerce_boolean = on_text(lambda text: BOOLEANS[text.strip().lower()])
    _normalize_coerce_integer = on_text(lambda text: int(text.strip()))
    _normalize_coerce_number = on_text(lambda text: finite(float(text.strip())))
    _normalize_coerce_lowercase = on_text(lambda text: text.strip().lower())  # ` HIGH ` is high
    # ' staging ' would be another environment (service...) than 'staging' in Alert24.
    _normalize_coerce_trimmed = on_text(str.strip)
    _normalize_coerce_base_url = on_text(base_url)

    def _normalize_coerce_tags(self, value: Any) -> Any:
        """A list (from NAME_COUNT and NAME_i), a YAML list typed as text (`"[web, api]"`), or a
        text split at its commas: each tag trimmed, the blank ones left out. YAML's base loader
        keeps each item as written: `[on, 1.10]` stays 'on' and '1.10', not True and 1.1.
        What is wrong with a YAML list is said in a user's words, for the error message."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                value = yaml.load(value, Loader=yaml.BaseLoader)  # noqa: S506 (text, lists, dicts)
            except yaml.YAMLError as error:
                problem = getattr(error, "problem", None) or "it cannot be parsed"
                raise ValueError(f"it starts with [ but is not a YAML list ({problem})") from None
            if not isinstance(value, list):
                raise ValueError("it starts with [ but is not a YAML list")
            for number, item in enumerate(value, 1):
                if not isinstance(item, str):
                    kind = "list" if isinstance(item, list) else "mapping"
                    raise ValueError(f"its item {number} is a {kind}, not a tag")
        elif isinstance(value, str):
            value = value.split(",")
        return [tag.strip() for tag in value if tag and tag.strip()]

    def _normalize_coerce_project_keys(self, value: Any) -> Any:
        try:
            return list(project_keys(value))
        except NotAProjectKey as bad:
            raise ValueError(f"{quoted_text(bad)} is not a Jira project key") from None

    def _check_with_host_name(self, field: str, value: Any) -> None:
        """A host requests could never reach fails here, by name, rather than as an unexpected
        error at the first request: a port 0 or not a number, a broken [IPv6] literal, a DNS
        name with an empty label, or one over 63 characters, or over 253 in all. An IPv6
        literal (in brackets, with colons and no dots) passes."""
        try:
            parts = urlsplit(value)
            host, port = parts.hostname or "", parts.port
            requests.PreparedRequest().prepare_url(value, None)  # its IDNA rules: `☃.example`
        except ValueError:  # requests' InvalidURL is one
            host, port = "", 0
        labels = host.rstrip(".").split(".")
        bad_name = len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels)
        if port == 0 or (bad_name and ":" not in host):
            self._error(field, "not a host name")


def read_variables(
    environ: Mapping[str, str],
    schema: Mapping[str, dict],
    validator: type[Validator] = PipeValidator,
) -> Variables:
    """The schema's variables from the environment, coerced, defaulted and checked; every
    problem at once in InvalidVariables."""
    document: dict[str, Any] = {}
    problems = []
    for name, rules in schema.items():
        count = (given(environ, f"{name}_COUNT") or "").strip()
        if count and rules.get("type") != "list":  # `ENVIRONMENT: [staging]` in the YAML
            problems.append(f"{name} is given as a YAML list: give it one value, not a list.")
        elif not count:  # a plain NAME (a list typed as text) is left to its coercer
            if given(environ, name) is not None:
                document[name] = environ[name]
        elif not (count.isascii() and count.isdigit()):
            problems.append(
                f"{name}_COUNT is {quoted_text(count)}, which is not valid: give {name} as a "
                f"YAML list, and leave {name}_COUNT to Bitbucket."
            )
        elif len(count) > 9 or int(count) > rules.get("maxlength", math.inf):  # before reading
            limit = rules["maxlength"]  # a billion items, or a number int() will not read
            many = printable(count.lstrip("0"))
            problems.append(f"{name} has {many} items, which is too many: give at most {limit}.")
        else:
            document[name] = list(ArrayVariable(name, {**environ, f"{name}_COUNT": count}))
    # Bytes that are not UTF-8 (a list's items may be None, where an index was left out).
    unreadable = [n for n, v in document.items() if not is_utf8("".join(filter(None, listed(v))))]
    for name in unreadable:
        problems.append(f"{name} {NOT_UTF8}")
        del document[name]
    problems += missing_ca_bundle(environ) + unreadable_proxies(environ)
    # Cerberus checks each rule it is given twice, ~0.5 ms a variable: it is given the rules of
    # the few variables set (without `meta`, which is documentation) and the default of others.
    checked = {}
    for name, rules in schema.items():
        if name in document:
            checked[name] = {rule: value for rule, value in rules.items() if rule != "meta"}
        elif "default" in rules:
            checked[name] = {"default": copy.copy(rules["default"])}  # a list, new each run
    checking = validator(checked)
    if not checking.validate(document) or problems:
        raise InvalidVariables("\n".join(explain(checking, schema, document) + problems))
    # The commas of `TAGS: 'web, api'` are not stray spaces; those around ' web' of a list are.
    trimmed = [
        name
        for name, value in document.items()
        if {"trimmed", "tags"} & set(listed(schema[name].get("coerce")))
        and any(text != text.strip() for text in filter(None, listed(value)))
    ]
    return Variables(checking.document, trimmed)


def listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def missing_ca_bundle(environ: Mapping[str, str]) -> list[str]:
    """requests verifies Alert24's certificate with the first of these that is not empty (a
    file, or a directory prepared by c_rehash; a blank is a path); one that is not there would
    fail the request later, where the failure looks like a network problem."""
    name = next((n for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if environ.get(n)), None)
    if not name or os.path.exists(environ[name]):
        return []
    return [
        f"{name} is {quoted_text(environ[name])}, which does not exist: give the path of a CA "
        "bundle file inside the pipe's container (a file in the clone, e.g. "
        "$BITBUCKET_CLONE_DIR/ca.pem)."
    ]


def unreadable_proxies(environ: Mapping[str, str]) -> list[str]:
    """A proxy's address that requests cannot use (it cannot parse it, its host is no IDNA name,
    its password no Latin-1, or its scheme is not http or https) would fail the request later,
    with an error that may quote the address, password and all: it is refused here, unshown."""
    problems = []
    for name in filter(environ.get, proxy_variables(environ)):
        try:
            address = requests.utils.prepend_scheme_if_needed(environ[name], "http")
            proxy = urllib3.util.parse_url(address)
            # A path is no part of a proxy's address: `user:8841/pw@host` reads as host `user`.
            usable = proxy.scheme in ("http", "https") and bool(proxy.host)
            usable = usable and proxy.path in (None, "", "/") and not proxy.query
            (proxy.host or "").encode("idna")  # as urllib3 checks it when it connects
            requests.adapters.HTTPAdapter().proxy_headers(address)  # its Basic credentials
        except ValueError:  # urllib3's LocationParseError and UnicodeError are ValueErrors
            usable = False
        if not usable:
            problems.append(
                f"{name} cannot be read as a proxy's address (not shown: it may hold a password): "
                "give it as http://host:port or http://user:password@host:port, with each /, ?, "
                "#, @ or : in the password percent-encoded (%2F, %3F, %23, %40, %3A)."
            )
    return problems


def explain(checking: Validator, schema: Mapping[str, dict], document: dict) -> list[str]:
    """For each variable refused, its value as a message may quote it (a secret hidden; on one
    line, cut, with no URL password) and what is allowed. For TAGS, first what its coercer
    found wrong, in a user's words; the other coercers' errors are Python's, and not shown."""
    lines = []
    for name in sorted(checking.errors):
        rules, value = schema[name], document.get(name)
        shown = [quoted_text(v) if isinstance(v, str) else str(v) for v in listed(value)]
        secret = rules.get("meta", {}).get("secret")
        quoted = f"[{', '.join(shown)}]" if isinstance(value, list) else shown[0]
        quoted = "(hidden)" if secret else quoted
        said = []
        if {"tags", "project_keys"} & set(listed(rules.get("coerce"))):
            errors = checking.document_error_tree[name].errors
            said = [str(error.info[0]) for error in errors if error.code == COERCION_FAILED.code]
        lines.append(
            f"{name} is {quoted}, which is not valid: {'; '.join([*said, expected(rules)])}."
        )
    return lines


def quoted_text(text: str) -> str:
    """In quotes as repr() chooses them, but escaped once only, by printable."""
    shown = without_password(printable(text))
    quote = '"' if "'" in shown and '"' not in shown else "'"
    return f"{quote}{shown}{quote}"


def expected(rules: Mapping[str, Any]) -> str:
    if "expects" in rules.get("meta", {}):
        return rules["meta"]["expects"]
    if "allowed" in rules:
        return "use one of " + ", ".join(rules["allowed"])
    if rules.get("type") == "list":
        return (
            f"give a YAML list of at most {rules.get('maxlength')}, e.g. [web, api], or one text "
            "with commas: 'web, api'"
        )
    if rules.get("type") == "boolean":
        return "use 'true' or 'false'"
    return f"expected a {rules.get('type', 'value')}"


# Set in every pipe's container by the base image, Bitbucket, a shell, or read by requests.
OTHERS = re.compile(
    r"BITBUCKET_\w*|PYTHON\w*|LC_\w+|(HTTPS?|ALL|NO|FTP)_PROXY|(REQUESTS|CURL)_CA_BUNDLE"
    r"|SSL_CERT_(FILE|DIR)|PATH|HOME|LANG|LANGUAGE|HOSTNAME|PWD|OLDPWD|SHLVL|TERM|USER|SHELL"
    r"|GPG_KEY|CI|DOCKER_HOST|PIPELINES_\w*|_",
    re.IGNORECASE,
)
LIST_PART = re.compile(r"(?P<name>.+)_(?:COUNT|\d+)")


def misspelt(environ: Iterable[str], schema: Mapping[str, dict]) -> list[tuple[str, str]]:
    """(given, meant) for each variable set that is neither the pipe's nor known to be someone
    else's, but close to one of the pipe's names: a letter off (ENVIROMENT), an underscore off
    (ALERT24_APIKEY), or its case (environment). Only names: a misspelt API key holds a secret."""
    names = set(environ)
    # `TAG: [a, b]` arrives as TAG_COUNT, TAG_0, TAG_1: one variable, TAG.
    variables = {
        part[1] if (part := LIST_PART.fullmatch(name)) and f"{part[1]}_COUNT" in names else name
        for name in names
    }
    unknown = sorted(name for name in variables - set(schema) if not OTHERS.fullmatch(name))
    if not unknown:
        return []
    import difflib  # noqa: PLC0415 (~1.5 ms to import, for the few runs that set a name to compare)

    squeezed = {name.replace("_", ""): name for name in schema}
    meant = {
        name: squeezed.get(name.upper().replace("_", ""))
        or next(iter(difflib.get_close_matches(name.upper(), schema, n=1, cutoff=0.8)), None)
        for name in unknown
    }
    return [(name, meant[name]) for name in unknown if meant[name]]
