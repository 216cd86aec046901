"""Reading and checking policies/model.conf and policy.csv, and building the Casbin enforcer.

Every refusal names the file and line, so a security officer can fix a policy before it
is rolled out. Besides the syntax, loading checks that every name is known to the
catalogue, that submissions stay within each provider's legal remit, and that the model
is exactly the one the fast path in engine.py implements.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from pathlib import Path
from typing import Any

import casbin  # type: ignore[import-untyped]
from casbin.persist.adapter import Adapter, load_policy_line  # type: ignore[import-untyped]

from gateway.catalogue.registry import MARKET_BODY_KIND, NO_KIND, Catalogue
from gateway.errors import ConfigurationError
from gateway.policy import conditions

MODEL_FILE = "model.conf"
POLICY_FILE = "policy.csv"
# check: answer a minimal-disclosure check (green channel, joint punishment) from the
# category's records without releasing any of them.
ACTIONS = frozenset({"submit", "read", "read_masked", "check", "publish"})
EFFECTS = frozenset({"allow", "deny"})
# Casbin's default RoleManager(10) follows at most 9 links from the requested name.
MAX_LINKS = 9
# Plain names only: Casbin's CSV reader treats brackets and parentheses as nesting.
_NAME = re.compile(r"[A-Za-z0-9_.-]*")
_R_TOKENS = ["r_sub", "r_obj", "r_act", "r_pur", "r_ctx"]
_P_TOKENS = ["p_sub", "p_obj", "p_act", "p_pur", "p_eft", "p_cond"]
_EFFECT = "some(where (p_eft == allow)) && !some(where (p_eft == deny))"
# The fast path implements exactly these matcher terms; their order does not matter.
_MATCHER_TERMS = frozenset({"r_act==p_act", "r_pur==p_pur", "g2(r_obj,p_obj)",
                            "g(r_sub,p_sub)", "condition(p_cond,r_ctx)"})

Edge = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Rule:
    """One `p` line of policy.csv, with where it was written."""

    line: int
    sub: str
    obj: str
    act: str
    pur: str
    eft: str
    cond: str
    source: str = POLICY_FILE

    @property
    def values(self) -> tuple[str, str, str, str, str, str]:
        """The six values as Casbin holds them."""
        return (self.sub, self.obj, self.act, self.pur, self.eft, self.cond)

    @property
    def reference(self) -> str:
        """Where the rule is written ("policy.csv:12"): with the policy version, enough
        to find its text (PolicyEngine.rule_by_reference)."""
        return f"{self.source}:{self.line}"

    def __str__(self) -> str:
        return f"{self.reference} " + ", ".join(("p", *self.values)).rstrip()


@dataclass(frozen=True)
class LoadedPolicy:
    """A checked policy: rules, g and g2 edges, Casbin's enforcer and the version hash."""

    rules: tuple[Rule, ...]
    role_edges: tuple[Edge, ...]
    object_edges: tuple[Edge, ...]
    enforcer: casbin.Enforcer
    version: str


def load_policy(policies_dir: Path, catalogue: Catalogue) -> LoadedPolicy:
    """Read and check model.conf and policy.csv; raises ConfigurationError with file:line."""
    model_bytes, model_text = _read(policies_dir / MODEL_FILE)
    policy_bytes, policy_text = _read(policies_dir / POLICY_FILE)
    rules, role_lines = _parse_policy(policy_text)
    if not rules:
        # Likely a truncated file; and with no rules Casbin evaluates its matcher once on
        # empty strings, allowing a request made of empty names.
        raise ConfigurationError(f"{POLICY_FILE}: no rules; an empty policy is refused")
    _check_names(rules, role_lines, catalogue)
    listed = [(c, p) for _, c, p in role_lines]
    # The party registry's edges come after policy.csv's own g lines, minus repeats.
    seen = set(listed)
    from_catalogue = [e for e in dict.fromkeys(catalogue.role_edges()) if e not in seen]
    object_edges = list(dict.fromkeys(catalogue.hierarchy()))
    roles = closure(adjacency([*listed, *from_catalogue]), what="role chain")
    closure(adjacency(object_edges), what="category hierarchy")
    _check_remit(rules, roles, catalogue)
    _check_market_bodies(rules, roles, catalogue)
    enforcer = _build_enforcer(model_text, policy_text, from_catalogue, object_edges)
    _cross_check(enforcer, rules, listed)
    return LoadedPolicy(
        rules=tuple(rules),
        role_edges=(*listed, *from_catalogue),
        object_edges=tuple(object_edges),
        enforcer=enforcer,
        version=_version(model_bytes, policy_bytes, catalogue),
    )


def adjacency(edges: Iterable[Edge]) -> dict[str, list[str]]:
    """Each name with the names it links to (its roles, or its parent objects)."""
    adj: dict[str, list[str]] = {}
    for child, parent in edges:
        adj.setdefault(child, []).append(parent)
        adj.setdefault(parent, [])
    return adj


def closure(adj: Mapping[str, list[str]], what: str = "") -> dict[str, tuple[str, ...]]:
    """Every name with all names reachable from it (itself first), as Casbin's has_link."""
    out: dict[str, tuple[str, ...]] = {}
    for start in adj:
        dist = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in adj[node]:
                if nxt not in dist:
                    dist[nxt] = dist[node] + 1
                    queue.append(nxt)
        if max(dist.values()) > MAX_LINKS:
            # Casbin would silently stop following the chain; refuse rather than differ.
            raise ConfigurationError(
                f"{what} from '{start}' is longer than the {MAX_LINKS} links Casbin follows")
        out[start] = tuple(dist)
    return out


def shortest_path(adj: Mapping[str, list[str]], start: str,
                  goal: str | None) -> tuple[str, ...]:
    """The shortest chain of links from start to goal (just start when there is none)."""
    prev: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue and goal is not None:
        node = queue.popleft()
        if node == goal:
            chain = [node]
            while (before := prev[chain[-1]]) is not None:
                chain.append(before)
            return tuple(reversed(chain))
        for nxt in adj.get(node, ()):
            if nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return (start,)


def catalogue_objects(catalogue: Catalogue) -> set[str]:
    """Every policy object: field ("cat.field"), category, group and kind of personal data."""
    cats = catalogue.categories.values()
    return ({c.object_name(f) for c in cats for f in c.fields}
            | set(catalogue.categories) | set(catalogue.groups)
            | {spec.kind for c in cats for spec in c.fields.values() if spec.kind != NO_KIND})


# ------------------------------------------------------------------ loading


def _read(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path.name} cannot be read: {exc.strerror}",
                                 detail=str(path)) from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigurationError(f"{path.name}:{line}: not UTF-8 text") from None


def _parse_policy(text: str) -> tuple[list[Rule], list[tuple[int, str, str]]]:
    """Rules and `g` lines, read line by line as Casbin's file adapter reads them."""
    rules: list[Rule] = []
    role_lines: list[tuple[int, str, str]] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{POLICY_FILE}:{number}"
        tokens = [t.strip() for t in line.split(",")]
        for token in tokens:
            if not _NAME.fullmatch(token):
                raise ConfigurationError(f"{where}: '{token}' is not a plain name "
                                         "(letters, digits, _ . -; comments on their own line)")
        kind, values = tokens[0], tokens[1:]
        if kind == "p":
            if len(values) != 6:
                raise ConfigurationError(
                    f"{where}: a rule has 6 values (sub, obj, act, pur, eft, cond), found "
                    f"{len(values)}; end the line with a comma when there is no condition")
            if "" in values[:5]:
                raise ConfigurationError(f"{where}: only the condition may be empty")
            rules.append(Rule(number, *values))
        elif kind == "g":
            if len(values) != 2 or "" in values:
                raise ConfigurationError(f"{where}: a g line has 2 values (member, role), "
                                         f"found {len(values)}")
            role_lines.append((number, values[0], values[1]))
        elif kind == "g2":
            raise ConfigurationError(f"{where}: the data hierarchy (g2) comes from "
                                     "catalogue.toml only")
        else:
            raise ConfigurationError(f"{where}: a line starts with p or g, not '{kind}'")
        if (key := tuple(tokens)) in seen:
            raise ConfigurationError(f"{where}: repeats line {seen[key]}")
        seen[key] = number
    return rules, role_lines


def _check_names(rules: list[Rule], role_lines: list[tuple[int, str, str]],
                 catalogue: Catalogue) -> None:
    """Every name in the policy must be known to the catalogue or declared by a g line."""
    roles = set(catalogue.roles) | {parent for _, _, parent in role_lines}
    subjects = set(catalogue.parties) | roles
    objects = catalogue_objects(catalogue)
    for number, child, parent in role_lines:
        where = f"{POLICY_FILE}:{number}"
        if parent in catalogue.parties:
            raise ConfigurationError(f"{where}: '{parent}' is a party; it cannot be a role")
        if parent in objects:
            raise ConfigurationError(f"{where}: '{parent}' names data; it cannot be a role")
        if child not in subjects:
            raise ConfigurationError(f"{where}: unknown subject '{child}'")
    for rule in rules:
        where = f"{POLICY_FILE}:{rule.line}"
        if rule.eft not in EFFECTS:
            raise ConfigurationError(f"{where}: effect must be allow or deny, not '{rule.eft}'")
        if rule.act not in ACTIONS:
            raise ConfigurationError(f"{where}: unknown action '{rule.act}' "
                                     f"(one of {', '.join(sorted(ACTIONS))})")
        purpose = catalogue.purposes.get(rule.pur)
        if purpose is None:
            raise ConfigurationError(f"{where}: unknown purpose '{rule.pur}'")
        if conditions.unknown_conditions([rule.cond]):
            raise ConfigurationError(f"{where}: unknown condition '{rule.cond}' (known: "
                                     f"{', '.join(conditions.registered_conditions()[1:])})")
        if rule.sub not in subjects:
            raise ConfigurationError(f"{where}: unknown subject '{rule.sub}' "
                                     "(not a party or role)")
        if rule.obj not in objects:
            raise ConfigurationError(f"{where}: unknown object '{rule.obj}' "
                                     "(not a field, category or group)")
        # A push to a peer (policies/sharing.toml) is decided as a read under its purpose,
        # which no query may name.
        pushed = rule.act != "submit" and any(s.purpose == rule.pur
                                              for s in catalogue.sharing.values())
        if (rule.act == "submit") == purpose.queryable and not pushed:
            raise ConfigurationError(f"{where}: submit goes with a submission purpose and "
                                     f"read/read_masked with a query purpose, not '{rule.pur}'")


def _check_remit(rules: list[Rule], roles: Mapping[str, tuple[str, ...]],
                 catalogue: Catalogue) -> None:
    """No collection without legal authorisation: submit only what the catalogue lists."""
    for rule in rules:
        if rule.act != "submit" or rule.eft != "allow":
            continue
        where = f"{POLICY_FILE}:{rule.line}"
        category = catalogue.categories.get(rule.obj)
        if category is None:
            raise ConfigurationError(f"{where}: submit is allowed per category, "
                                     f"not for '{rule.obj}'")
        for party in catalogue.parties:
            if rule.sub in roles.get(party, (party,)) and party not in category.providers:
                raise ConfigurationError(f"{where}: lets '{party}' submit '{rule.obj}', but "
                                         "catalogue.toml does not list it as a provider")


def _check_market_bodies(rules: list[Rule], roles: Mapping[str, tuple[str, ...]],
                         catalogue: Catalogue) -> None:
    """Market bodies (airlines, rail, lenders) run yes/no checks and never read records:
    a rule that would let one read, publish or submit is refused, whatever role it names."""
    for rule in rules:
        if rule.act == "check" or rule.eft != "allow":
            continue
        for party in catalogue.parties.values():
            if party.kind == MARKET_BODY_KIND and rule.sub in roles.get(party.id, (party.id,)):
                raise ConfigurationError(
                    f"{POLICY_FILE}:{rule.line}: lets market body '{party.id}' {rule.act} "
                    f"'{rule.obj}'; market bodies may only check")


class _TextAdapter(Adapter):  # casbin ships no type hints
    """Feeds Casbin the very text the engine parsed and hashed, plus catalogue edges."""

    def __init__(self, text: str, extra_lines: list[str]) -> None:
        self._text = text
        self._extra = extra_lines

    def load_policy(self, model: Any) -> None:
        """Load every line with Casbin's own line reader."""
        for line in [*self._text.split("\n"), *self._extra]:
            load_policy_line(line.strip(), model)


def _build_enforcer(model_text: str, policy_text: str, role_edges: list[Edge],
                    object_edges: list[Edge]) -> casbin.Enforcer:
    extra = [f"g, {c}, {p}" for c, p in role_edges] + [f"g2, {c}, {p}" for c, p in object_edges]
    try:
        model = casbin.Enforcer.new_model(text=model_text)
        _check_model(model, model_text)
        enforcer = casbin.Enforcer(model, _TextAdapter(policy_text, extra))
    except ConfigurationError:
        raise
    except Exception as exc:  # Casbin raises bare RuntimeError/KeyError on a bad model
        raise ConfigurationError(f"{MODEL_FILE}: Casbin cannot load it: {exc}") from None
    enforcer.enable_auto_save(False)  # policy is reviewed data, never written back
    enforcer.add_function("condition", conditions.evaluate)
    return enforcer


def _check_model(model: Any, text: str) -> None:
    """The model must be the one the fast path implements, term for term."""

    def where(key: str) -> str:
        for number, line in enumerate(text.split("\n"), start=1):
            if re.match(rf"\s*{key}\s*=", line):
                return f"{MODEL_FILE}:{number}"
        return MODEL_FILE

    def section(sec: str) -> dict[str, Any]:
        return dict(model.model.get(sec, {}))

    expected = {"r": ["r"], "p": ["p"], "g": ["g", "g2"], "e": ["e"], "m": ["m"]}
    for sec, keys in expected.items():
        if sorted(section(sec)) != keys:
            raise ConfigurationError(f"{where(sec)}: the model must define exactly "
                                     f"{', '.join(keys)} in this section")
    if section("r")["r"].tokens != _R_TOKENS:
        raise ConfigurationError(f"{where('r')}: the request must be sub, obj, act, pur, ctx")
    if section("p")["p"].tokens != _P_TOKENS:
        raise ConfigurationError(f"{where('p')}: a rule must be sub, obj, act, pur, eft, cond")
    for key in ("g", "g2"):
        ast = section("g")[key]
        if len(ast.tokens) != 2 or ast.params_tokens:
            raise ConfigurationError(f"{where(key)}: {key} must be `_, _`")
    if section("e")["e"].value != _EFFECT:
        raise ConfigurationError(f"{where('e')}: the effect must be deny-overrides with "
                                 "default deny: " + _EFFECT.replace("_", "."))
    terms = {re.sub(r"\s+", "", t) for t in section("m")["m"].value.split("&&")}
    if terms != _MATCHER_TERMS:
        raise ConfigurationError(f"{where('m')}: the matcher must be the conjunction of "
                                 "action, purpose, g2 object, g subject and condition")


def _cross_check(enforcer: casbin.Enforcer, rules: list[Rule], listed: list[Edge]) -> None:
    """Casbin must have read policy.csv exactly as the fast path did."""
    p_rules = [tuple(v) for v in enforcer.get_model().model["p"]["p"].policy]
    g_rules = [tuple(v) for v in enforcer.get_model().model["g"]["g"].policy]
    if p_rules != [r.values for r in rules] or g_rules[: len(listed)] != listed:
        raise ConfigurationError(f"{POLICY_FILE}: Casbin reads it differently from the gateway")


def _canonical(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_canonical(v) for v in value)  # set order varies between processes
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()  # the working calendar's days
    return value


def _version(model_bytes: bytes, policy_bytes: bytes, catalogue: Catalogue) -> str:
    digest = hashlib.sha256()
    catalogue_json = json.dumps(_canonical(catalogue), sort_keys=True, ensure_ascii=False)
    for name, data in ((MODEL_FILE, model_bytes), (POLICY_FILE, policy_bytes),
                       ("catalogue", catalogue_json.encode())):
        # Length-prefixed so that no two different inputs hash the same way.
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
