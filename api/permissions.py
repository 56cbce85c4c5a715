"""Which routes each role may call, in one table (checked by api.authentication).

- admin: every route.
- user: reads everywhere; uploads; queries and retrieves; sends to the modalities and peers
  defined here; no delete, no configuration, no administration.
- auditor: reads of the archive, the changes and the exports only.

A route is named by its method and its path with each identifier as `{}`; the first rule that
matches decides. A path no rule names is for admins only.
"""

from __future__ import annotations

import re

import attrs

from domain.passwords import ADMIN, AUDITOR, USER

READ = frozenset({"GET", "HEAD"})
POST = frozenset({"POST"})
_SEGMENT = r"[^/]+"


@attrs.frozen
class Rule:
    methods: frozenset[str]
    pattern: str  # a path with `{}` for one segment and `**` for any rest
    roles: frozenset[str]

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and _compiled(self.pattern).fullmatch(path) is not None


_EVERYONE = frozenset({ADMIN, USER, AUDITOR})
_USERS = frozenset({ADMIN, USER})
_ADMINS = frozenset({ADMIN})

RULES: tuple[Rule, ...] = (
    # The archive, its changes and its exports: everyone reads.
    *(
        Rule(READ, pattern, _EVERYONE)
        for pattern in (
            "/",
            "/system",
            "/statistics",
            "/changes",
            "/exports",
            "/exports/audit",
            "/patients",
            "/studies",
            "/series",
            "/instances",
            "/patients/**",
            "/studies/**",
            "/series/**",
            "/instances/**",
        )
    ),
    # Searching the archive is reading it, and so is describing many of its resources at once.
    *(
        Rule(POST, path, _EVERYONE)
        for path in (
            "/tools/find",
            "/tools/count-resources",
            "/tools/lookup",
            "/tools/bulk-content",
        )
    ),
    # Who may log in, and how: admins only, even to read.
    Rule(READ, "/tools/tokens", _ADMINS),
    Rule(READ, "/tools/logins", _ADMINS),
    # Users: every other read, uploads, queries, retrieves, sending to known nodes.
    Rule(READ, "/**", _USERS),
    Rule(POST, "/instances", _USERS),
    # Downloading archives, as GET does.
    *(Rule(POST, f"/{level}/{{}}/archive", _USERS) for level in ("patients", "studies", "series")),
    Rule(POST, "/tools/create-archive", _USERS),
    # A modified or anonymized copy of one instance, answered and not stored, is a read; the
    # jobs that store new resources (and may delete their sources) are for admins.
    *(Rule(POST, f"/instances/{{}}/{verb}", _USERS) for verb in ("modify", "anonymize")),
    *(
        Rule(POST, f"/modalities/{{}}/{action}", _USERS)
        for action in (
            "echo",
            "query",
            "store",
            "store-straight",
            "move",
            "get",
            "find-worklist",
            "storage-commitment",
        )
    ),
    *(Rule(POST, f"/peers/{{}}/{action}", _USERS) for action in ("store", "store-straight")),
    Rule(POST, "/queries/{}/retrieve", _USERS),
    Rule(POST, "/queries/{}/answers/{}/retrieve", _USERS),
    Rule(POST, "/queries/{}/answers/{}/query-{}", _USERS),
)


def may(role: str, method: str, path: str) -> bool:
    """Whether a user with `role` may call `method path` (the path without its query)."""
    if role == ADMIN:
        return True
    method = method.upper()
    for rule in RULES:
        if rule.matches(method, path):
            return role in rule.roles
    return False


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _CACHE.get(pattern)
    if compiled is None:
        parts = re.split(r"(\{\}|\*\*)", pattern)
        regex = "".join(
            _SEGMENT if part == "{}" else ".*" if part == "**" else re.escape(part)
            for part in parts
        )
        compiled = _CACHE[pattern] = re.compile(regex)
    return compiled
