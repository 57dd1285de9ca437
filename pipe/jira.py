"""Jira issue keys in the deployed branch's name and the commits' messages, tagged on the change.

A key is `<project key>-<issue number>`, e.g. `PAY-123`: a capital letter, then capitals or
digits, a hyphen, and a number not starting with 0 (not `PAY-01`), standing alone (not
`fooPAY-1`, `PAY-1x` or `2PAY-1`; an underscore may follow, as in `PAY-1_card_form`). Project
keys with underscores, which Jira may allow, are found only when JIRA_PROJECT_KEYS names them:
`MAX_RETRIES-1` is far likelier a constant than an issue.

The pattern alone cannot tell `PAY-123` from `UTF-8`, so words far more often something else are
left out (NOT_PROJECTS; `X-509` and `KOI8-R` never match: one letter, or no number):
  encodings    UTF, UCS, ISO, LATIN, WINDOWS, CP, IBM, GB  (UTF-8, ISO-8859-1, WINDOWS-1252)
  hashes and ciphers  SHA, SHA3, MD, CRC, ADLER, FNV, RIPEMD, AES, RSA  (SHA-256, CRC-32)
  standards    RFC, IEC, IEEE, ECMA, ES, ANSI, PEP, JSR, FIPS, NIST  (RFC-2119, ES-2015, PEP-8)
  vulnerabilities and weaknesses  CVE, CWE, GHSA  (CVE-2024-1234 is a vulnerability, not PAY-1)
  protocols, time zones, platforms  HTTP, TLS, SSL, UTC, GMT, X86  (HTTP-2, UTC-5, X86-64)
Jira's own integration links keys of projects that exist only, which the pipe cannot know without
access to Jira: a team with a project named like one of these lists its projects in
JIRA_PROJECT_KEYS. Then only those projects' keys are tagged, whatever they are called, and in
any case in the branch's name (`feature/pay-123-...`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MOST = 20  # keys tagged on one change
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]+")  # Jira's widest rule for a project key
# Standing alone: not inside `fooPAY-1`, `ÄPAY-1` or `PAY-1x` (Unicode-aware); but an underscore
# may follow, as in branches (`PAY-1_card_form`). One before is a constant's (`MAX_RETRIES-1`).
ALONE = r"\b{}-[1-9][0-9]*(?![^\W_])"
KEY = re.compile(ALONE.format("[A-Z][A-Z0-9]+"))
NOT_PROJECTS = frozenset(  # as the docstring lists them
    "UTF UCS ISO LATIN WINDOWS CP IBM GB SHA SHA3 MD CRC ADLER FNV RIPEMD AES RSA"  # noqa: SIM905
    " RFC IEC IEEE ECMA ES ANSI PEP JSR FIPS NIST CVE CWE GHSA HTTP TLS SSL UTC GMT X86".split()
)


class NotAProjectKey(ValueError):
    """JIRA_PROJECT_KEYS holds something Jira would never accept as a project key."""


def project_keys(given: Iterable[str | None]) -> tuple[str, ...]:
    """The project keys of JIRA_PROJECT_KEYS, in capitals (`pay` is PAY: what was meant);
    blanks dropped. Raises NotAProjectKey naming the first that is not one."""
    keys = [each.strip() for each in given if each and each.strip()]
    for key in keys:
        if not (key.isascii() and PROJECT_KEY.fullmatch(key.upper())):
            raise NotAProjectKey(key)
    return tuple(dict.fromkeys(key.upper() for key in keys))


def issue_keys(
    branch: str | None, messages: Iterable[str], projects: Sequence[str] = ()
) -> list[str]:
    """The keys in the branch's name first, then in the messages, each once, at most 20: with
    projects, those projects' keys only; without, any key but the NOT_PROJECTS."""
    in_text = in_branch = KEY
    if projects:
        in_text = re.compile(ALONE.format(f"(?:{'|'.join(map(re.escape, projects))})"))
        in_branch = re.compile(in_text.pattern, re.IGNORECASE)  # branches are often in lower case
    texts = [(branch or "", in_branch), *((message, in_text) for message in messages)]
    found = (m.group().upper() for text, pattern in texts for m in pattern.finditer(text))
    keys = [k for k in found if k.isascii() and (projects or k.split("-")[0] not in NOT_PROJECTS)]
    return list(dict.fromkeys(keys))[:MOST]
