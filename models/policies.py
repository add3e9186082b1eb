"""The plan's policies as data: one TOML file per policy, validated when loaded.

A file states who a policy is for, what it gives, and its eligibility criteria in a small
declarative language (never evaluated as Python). Each criterion is a table:

- a comparison: ``{ field = "stage", op = ">=", value = "A轮" }``; ``op`` is one of
  ``== != < <= > >= in not_in``; codes may be written as their code, Chinese or English label;
- time since a date or a year: ``{ field = "founded_on", since = "months", op = "<=", value = 36 }``
  (``since = "years"`` on ``birth_year`` is the age);
- ``{ all = [...] }``, ``{ any = [...] }``, ``{ not = {...} }``, and ``{ ref = "name" }`` naming an
  entry of the file's ``[definitions]`` table.

Any criterion may carry ``label`` and ``hint`` (``{ zh, en }``: what it asks, and what would
change an unmet one) and ``fixed = true`` (the applicant cannot change it, so an unmet one makes
the policy out of reach rather than "almost"). The evaluation lives in :mod:`matcher.policies`.

Bad files are refused as a whole, naming the file, the line and the field: an unknown key, a
criterion over a field the audience's profiles do not have, a value of the wrong type, a
definition that refers to itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy import text as text_clause
from sqlalchemy.orm import Session, sessionmaker

from models.changes import FeedEntry, Topic
from models.clock import beijing_now
from models.enums import EntityKind
from models.policy_fields import PROFILE_FIELDS, FieldType, ProfileField
from models.settings import Settings
from models.tables import PolicyDocument
from models.taxonomy import ANYWHERE

logger = logging.getLogger(__name__)

POLICY_ID = r"^[A-Za-z0-9][\w\-]{0,63}$"
# Who a policy may be for; a company (企业) is a startup profile here.
AUDIENCES: Mapping[str, EntityKind] = {
    **{kind.value: kind for kind in EntityKind},
    "enterprise": EntityKind.startup,
}
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
MEMBERSHIPS = ("in", "not_in")
MAX_CRITERIA = 50
SUBMITTED = "(submitted)"  # the file named in a refusal of staff's import or edit
# Any fixed number (the change feed's and the migration's are others): the key of the
# PostgreSQL advisory lock that serialises writes of policy documents.
_PG_POLICY_LOCK = 7_302_116


class PolicyLoadError(ValueError):
    """A policy file refused: where (file, line) and which field, and why."""

    def __init__(self, file: str, line: int | None, field_path: str, reason: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {field_path}: {reason}")
        self.file, self.line, self.field, self.reason = file, line, field_path, reason


# --- the file's schema ----------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Text(Strict):
    zh: Line
    en: Line


class Section(Strict):
    ref: Line = Field(description="The plan's numbering, e.g. 二(一)4.")
    zh: Line
    en: Line


class Window(Strict):
    opens: dt.date
    closes: dt.date | None = None

    def contains(self, day: dt.date) -> bool:
        return self.opens <= day and (self.closes is None or day <= self.closes)


class Benefit(Strict):
    kind: Literal["amount", "ratio", "cap", "service"]
    amount_cny: int | None = Field(default=None, ge=0)
    ratio: float | None = Field(default=None, ge=0, le=10)
    cap_cny: int | None = Field(default=None, ge=0)
    configurable: bool = Field(
        default=False, description="The plan names no number: the programme sets it, and the file says so."
    )
    text: Text

    @property
    def value_cny(self) -> int:
        """What ordering by value counts: the amount, else the cap; 0 for a service or unset."""
        return self.amount_cny or self.cap_cny or 0


class PolicyFile(Strict):
    id: Annotated[str, StringConstraints(pattern=POLICY_ID)]
    version: int = Field(ge=1)
    title: Text
    summary: Text
    section: Section
    units: list[Line] = Field(min_length=1, description="Issuing units (责任单位), as the plan names them.")
    audience: Literal[
        "person", "startup", "enterprise", "investor", "mentor", "space", "practice_base", "post"
    ]
    documents: list[Text] = []
    window: Window
    benefits: list[Benefit] = Field(min_length=1)
    definitions: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], dict[str, Any]] = {}
    criteria: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CRITERIA)


# --- the compiled criteria ----------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    field: ProfileField
    op: str
    value: Any  # a float for numbers; a frozenset of codes for in / not_in; a code or bool otherwise
    since: Literal["years", "months"] | None = None


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Criterion, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Criterion, ...]


@dataclass(frozen=True)
class NotOf:
    part: Criterion


Node = Comparison | AllOf | AnyOf | NotOf


@dataclass(frozen=True)
class Criterion:
    """One checkable condition, with how to explain it; ``path`` locates it in its file."""

    node: Node
    path: str
    label: Text  # the file's, or the criterion in words
    hint: Text | None = None
    fixed: bool = False


@dataclass(frozen=True)
class Policy:
    id: str
    version: int
    title: Text
    summary: Text
    section: Section
    units: tuple[str, ...]
    audience: EntityKind
    audience_label: str
    documents: tuple[Text, ...]
    window: Window
    benefits: tuple[Benefit, ...]
    criteria: tuple[Criterion, ...]
    source: str  # the file it came from
    text: str = field(repr=False, default="")  # the file as written (staff edit it as such)

    @property
    def value_cny(self) -> int:
        return sum(benefit.value_cny for benefit in self.benefits)

    @property
    def configurable(self) -> bool:
        return any(benefit.configurable for benefit in self.benefits)


# --- compiling ---------------------------------------------------------------------------

_LEAF_KEYS = frozenset({"field", "op", "value", "since"})
_SHARED_KEYS = frozenset({"label", "hint", "fixed"})
_COMPOSITES = ("all", "any", "not", "ref")


class _Compiler:
    """Turns one file's criteria tables into :class:`Criterion` trees, resolving refs once."""

    def __init__(self, kind: EntityKind, definitions: Mapping[str, dict[str, Any]]) -> None:
        self.fields = PROFILE_FIELDS[kind]
        self.kind = kind
        self.definitions = definitions
        self.resolved: dict[str, Criterion] = {}
        self.resolving: list[str] = []

    def criterion(self, table: Any, path: str) -> Criterion:
        if not isinstance(table, dict):
            raise _RefusalError(path, "a criterion must be a table")
        unknown = set(table) - _LEAF_KEYS - _SHARED_KEYS - set(_COMPOSITES)
        if unknown:
            name = sorted(unknown)[0]
            raise _RefusalError(f"{path}.{name}", f"unknown key '{name}'")
        composites = [key for key in _COMPOSITES if key in table]
        if len(composites) > 1 or (composites and _LEAF_KEYS & set(table)):
            raise _RefusalError(path, "a criterion is one of: a comparison, all, any, not or ref")
        label = _text(table.get("label"), f"{path}.label")
        hint = _text(table.get("hint"), f"{path}.hint")
        fixed = table.get("fixed", False)
        if not isinstance(fixed, bool):
            raise _RefusalError(f"{path}.fixed", "must be true or false")
        if composites == ["ref"]:
            referred = self.reference(table["ref"], f"{path}.ref")
            return Criterion(
                referred.node, path, label or referred.label, hint or referred.hint, fixed or referred.fixed
            )
        node = self.node(table, composites[0] if composites else None, path)
        return Criterion(node, path, describe(node, label), hint, fixed)

    def node(self, table: dict[str, Any], composite: str | None, path: str) -> Node:
        if composite in ("all", "any"):
            parts = table[composite]
            if not isinstance(parts, list) or not parts:
                raise _RefusalError(f"{path}.{composite}", "must be a non-empty list of criteria")
            compiled = tuple(self.criterion(p, f"{path}.{composite}[{i}]") for i, p in enumerate(parts))
            return AllOf(compiled) if composite == "all" else AnyOf(compiled)
        if composite == "not":
            return NotOf(self.criterion(table["not"], f"{path}.not"))
        return self.comparison(table, path)

    def reference(self, name: Any, path: str) -> Criterion:
        if not isinstance(name, str) or name not in self.definitions:
            raise _RefusalError(path, f"no definition named '{name}'")
        if name in self.resolving:
            cycle = " -> ".join([*self.resolving[self.resolving.index(name) :], name])
            raise _RefusalError(path, f"definitions refer to each other in a cycle: {cycle}")
        if name not in self.resolved:
            self.resolving.append(name)
            self.resolved[name] = self.criterion(self.definitions[name], f"definitions.{name}")
            self.resolving.pop()
        return self.resolved[name]

    def comparison(self, table: dict[str, Any], path: str) -> Comparison:
        for key in ("field", "op", "value"):
            if key not in table:
                raise _RefusalError(f"{path}.{key}", "missing")
        name, op, since = table["field"], table["op"], table.get("since")
        spec = self.fields.get(name) if isinstance(name, str) else None
        if spec is None:
            known = ", ".join(sorted(self.fields))
            raise _RefusalError(
                f"{path}.field", f"{self.kind.value} profiles have no field '{name}'; known: {known}"
            )
        if since is not None:
            return self._since(spec, op, table["value"], since, path)
        allowed = _OPS[spec.type]
        if op not in allowed:
            raise _RefusalError(
                f"{path}.op",
                f"'{op}' does not apply to {spec.type.value} field '{name}'; use one of {', '.join(allowed)}",
            )
        return Comparison(spec, op, _value(spec, op, table["value"], f"{path}.value"))

    def _since(self, spec: ProfileField, op: Any, value: Any, since: Any, path: str) -> Comparison:
        units = {FieldType.date: ("years", "months"), FieldType.year: ("years",)}.get(spec.type, ())
        if since not in units:
            reason = (
                f"'{since}' is not one of {', '.join(units)}"
                if units
                else f"{spec.type.value} field '{spec.name}' has no time since"
            )
            raise _RefusalError(f"{path}.since", reason)
        if op not in COMPARISONS:
            raise _RefusalError(f"{path}.op", f"time since compares with one of {', '.join(COMPARISONS)}")
        return Comparison(spec, op, _number(value, f"{path}.value"), since)


_OPS: Mapping[FieldType, tuple[str, ...]] = {
    FieldType.number: COMPARISONS,
    FieldType.year: COMPARISONS,
    FieldType.date: (),
    FieldType.flag: ("==", "!="),
    FieldType.ordinal: (*COMPARISONS, *MEMBERSHIPS),
    FieldType.code: ("==", "!=", *MEMBERSHIPS),
    FieldType.codes: MEMBERSHIPS,
    FieldType.place: MEMBERSHIPS,
}


def _value(spec: ProfileField, op: str, value: Any, path: str) -> Any:
    if spec.type in (FieldType.number, FieldType.year):
        return _number(value, path)
    if spec.type is FieldType.flag:
        if not isinstance(value, bool):
            raise _RefusalError(path, f"'{spec.name}' is true or false, not {value!r}")
        return value
    if op in MEMBERSHIPS:
        if not isinstance(value, list) or not value:
            raise _RefusalError(path, f"'{op}' takes a non-empty list of {spec.name} values")
        return frozenset(_code(spec, v, f"{path}[{i}]") for i, v in enumerate(value))
    code = _code(spec, value, path)
    if spec.order is not None and op not in ("==", "!=") and code not in spec.order:
        raise _RefusalError(path, f"'{value}' is not on the {spec.name} ladder")
    return code


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _RefusalError(path, f"must be a number, not {value!r}")
    return float(value)


def _code(spec: ProfileField, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _RefusalError(path, f"must be a {spec.name} code (text), not {value!r}")
    assert spec.normalize is not None
    try:
        code = spec.normalize(value)
    except ValueError as error:
        raise _RefusalError(path, str(error)) from None
    if spec.type is FieldType.place and code == ANYWHERE:
        return ANYWHERE
    return code


def _text(value: Any, path: str) -> Text | None:
    if value is None:
        return None
    try:
        return Text.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        raise _RefusalError(".".join([path, *map(str, first["loc"])]), first["msg"]) from None


class _RefusalError(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def units_of(field: ProfileField, since: str | None) -> tuple[str, str]:
    if since == "months":
        return "个月", "months"
    if since == "years":
        return ("岁", "years old") if field.name == "birth_year" else ("年", "years")
    return field.unit_zh, field.unit_en


_OP_TEXT: Mapping[str, tuple[str, str]] = {
    "==": ("为", "is"),
    "!=": ("不为", "is not"),
    "<": ("<", "<"),
    "<=": ("≤", "≤"),
    ">": (">", ">"),
    ">=": ("≥", "≥"),
    "in": ("属于", "is one of"),
    "not_in": ("不属于", "is none of"),
}


def describe(node: Node, label: Text | None) -> Text:
    """A criterion in words when its file gives no label."""
    if label is not None:
        return label
    if isinstance(node, AllOf | AnyOf):
        zh_join, en_join = ("且", " and ") if isinstance(node, AllOf) else ("或", " or ")
        parts = [p.label for p in node.parts]
        return Text(zh=zh_join.join(p.zh for p in parts), en=en_join.join(p.en for p in parts))
    if isinstance(node, NotOf):
        inner = node.part.label
        return Text(zh=f"并非“{inner.zh}”", en=f"not ({inner.en})")
    field = node.field
    op_zh, op_en = _OP_TEXT[node.op]
    if node.since is not None:
        unit_zh, unit_en = units_of(field, node.since)
        subject_zh = "年龄" if field.name == "birth_year" else f"{field.zh}距今"
        subject_en = "age" if field.name == "birth_year" else f"time since {field.en}"
        return Text(
            zh=f"{subject_zh}{op_zh}{node.value:g}{unit_zh}",
            en=f"{subject_en} {op_en} {node.value:g} {unit_en}",
        )
    values = sorted(node.value) if isinstance(node.value, frozenset) else [node.value]
    names = [_value_name(field, v) for v in values]
    zh = "、".join(n[0] for n in names)
    en = ", ".join(n[1] for n in names)
    return Text(zh=f"{field.zh}{op_zh}{zh}", en=f"{field.en} {op_en} {en}")


def _value_name(field: ProfileField, value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return ("是", "yes") if value else ("否", "no")
    if isinstance(value, float):
        unit_zh, unit_en = field.unit_zh, field.unit_en
        return f"{value:,.0f}{unit_zh}", f"{value:,.0f} {unit_en}".strip()
    if field.names and value in field.names:
        return field.names[value]
    return str(value), str(value)


# --- loading ----------------------------------------------------------------------------


def parse_policy(text: str, *, source: str) -> Policy:
    """One policy from the text of its file; :class:`PolicyLoadError` when anything is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None) or _line_from_message(str(error))
        raise PolicyLoadError(source, line, "(syntax)", str(error)) from None
    try:
        parsed = PolicyFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        path = _dotted(first["loc"])
        raise PolicyLoadError(source, _line_of(text, path), path, first["msg"]) from None
    kind = AUDIENCES[parsed.audience]
    compiler = _Compiler(kind, parsed.definitions)
    try:
        criteria = tuple(
            compiler.criterion(table, f"criteria[{i}]") for i, table in enumerate(parsed.criteria)
        )
        for name in parsed.definitions:  # an unused definition is still checked
            compiler.reference(name, f"definitions.{name}")
    except _RefusalError as refusal:
        raise PolicyLoadError(source, _line_of(text, refusal.path), refusal.path, refusal.reason) from None
    return Policy(
        id=parsed.id,
        version=parsed.version,
        title=parsed.title,
        summary=parsed.summary,
        section=parsed.section,
        units=tuple(parsed.units),
        audience=kind,
        audience_label=parsed.audience,
        documents=tuple(parsed.documents),
        window=parsed.window,
        benefits=tuple(parsed.benefits),
        criteria=criteria,
        source=source,
        text=text,
    )


def _dotted(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _line_from_message(message: str) -> int | None:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


def _line_of(text: str, path: str) -> int | None:
    """The line holding the field ``path`` names: the n-th ``[[criteria]]`` (or element) and the
    key after it, found in the text (tomllib keeps no positions)."""
    lines = text.splitlines()
    start = 0
    first = re.match(r"(\w+)(?:\[(\d+)\])?", path)
    if first is not None:
        head, index = first.group(1), first.group(2)
        start = _start_of(lines, head, int(index) if index is not None else None)
    keys = re.findall(r"\.(\w+)", path)
    for key in reversed(keys):  # the innermost key that the text names
        pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
        for number in range(start, len(lines)):
            if pattern.search(lines[number]):
                return number + 1
    return start + 1 if start < len(lines) else None


def _start_of(lines: list[str], head: str, index: int | None) -> int:
    """Line index where the ``index``-th ``[[head]]`` table, or key ``head``, begins."""
    seen = -1
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped == f"[[{head}]]":
            seen += 1
            if index is None or seen == index:
                return number
        elif index is None and (stripped.startswith(f"[{head}") or re.match(rf"{head}\s*=", stripped)):
            return number
    return 0


@dataclass(frozen=True)
class PolicySet:
    """Every loaded policy, by id; ``generation`` changes whenever the set does."""

    policies: Mapping[str, Policy]
    generation: int = 0

    def __len__(self) -> int:
        return len(self.policies)

    def for_kind(self, kind: EntityKind) -> list[Policy]:
        return [p for p in self.policies.values() if p.audience is kind]

    def get(self, policy_id: str) -> Policy:
        try:
            return self.policies[policy_id]
        except KeyError:
            raise LookupError(f"no policy with id '{policy_id}'") from None


def shipped_policy_files() -> list[tuple[str, str]]:
    """(name, text) of the plan's policies shipped with the package."""
    folder = resources.files("models") / "data" / "policies"
    return sorted(
        (f"models/data/policies/{entry.name}", entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_policies(files: Iterable[tuple[str, str]], *, generation: int = 0) -> PolicySet:
    """Parse every file; a later file with the same id replaces an earlier one (staff's edit of a
    shipped policy). The first bad file refuses the whole set."""
    policies: dict[str, Policy] = {}
    for source, text in files:
        policy = parse_policy(text, source=source)
        policies[policy.id] = policy
    return PolicySet(policies, generation)


def write_policy(
    sessions: sessionmaker[Session], text: str, *, author: str, expected_id: str | None = None
) -> Policy:
    """Validate ``text`` and store it as the policy's document (staff's import or edit), in one
    transaction with its change-feed entry, so every process on the database reloads it."""
    policy = parse_policy(text, source=SUBMITTED)
    if expected_id is not None and policy.id != expected_id:
        raise PolicyLoadError(
            SUBMITTED, _line_of(text, "id"), "id", f"the file's id '{policy.id}' is not '{expected_id}'"
        )
    with sessions() as session:
        _lock_policy_writes(session)
        _store(session, policy, author)
        session.commit()
    return parse_policy(text, source=document_source(policy.id))


def document_source(policy_id: str) -> str:
    """Where a stored document is said to come from, in a refusal naming it."""
    return f"(database) {policy_id}.toml"


def _store(session: Session, policy: Policy, author: str) -> None:
    document = session.scalar(select(PolicyDocument).where(PolicyDocument.policy_id == policy.id))
    if document is None:
        document = PolicyDocument(policy_id=policy.id)
        session.add(document)
    document.version, document.text = policy.version, policy.text
    document.updated_at, document.updated_by = beijing_now(), author[:200]


def _lock_policy_writes(session: Session) -> None:
    """Take the database's write lock before the first read, so two edits of one new policy id
    never both find it absent."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(text_clause("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_POLICY_LOCK})


def import_policy_folder(sessions: sessionmaker[Session], folder: Path) -> list[PolicyLoadError]:
    """Move the policies an older release kept in ``folder`` (a data dir's ``policies``) into the
    database, once: a file goes in unless the database holds that policy at the same or a newer
    version, and is then renamed ``*.toml.imported``. A refused file stays, and is returned."""
    if not folder.is_dir():
        return []
    refused: list[PolicyLoadError] = []
    imported: list[Path] = []
    with sessions() as session:
        _lock_policy_writes(session)  # the workers of one host start together
        for path in sorted(folder.glob("*.toml")):
            try:
                policy = parse_policy(path.read_text(encoding="utf-8"), source=str(path))
            except PolicyLoadError as error:
                refused.append(error)
                continue
            except FileNotFoundError:  # another worker imported it meanwhile
                continue
            stored = session.scalar(
                select(PolicyDocument.version).where(PolicyDocument.policy_id == policy.id)
            )
            if stored is None or stored < policy.version:
                _store(session, policy, f"imported from {path}")
            imported.append(path)
        session.commit()
    for path in imported:
        with contextlib.suppress(FileNotFoundError):
            path.rename(path.with_name(f"{path.name}.imported"))
    return refused


def stored_policy_files(session: Session) -> list[tuple[str, str]]:
    """(source, text) of every policy document staff stored."""
    columns = (PolicyDocument.policy_id, PolicyDocument.text)
    rows = session.execute(select(*columns).order_by(PolicyDocument.policy_id))
    return [(document_source(policy_id), body) for policy_id, body in rows]


def open_policies(sessions: sessionmaker[Session], settings: Settings) -> PolicyRegistry:
    """The registry an entry point serves, once an older release's policies folder is moved in."""
    for refusal in import_policy_folder(sessions, settings.policy_dir):
        logger.warning("policy file left in place, not imported: %s", refusal)
    return PolicyRegistry(sessions)


class PolicyRegistry:
    """The policy set a process serves: the shipped files plus staff's documents in the database.

    :meth:`changed`, called with each batch of the change feed a process applies, reloads the
    set when a policy document was written (by this process, another worker or another host),
    so serving it costs nothing per request. A set that fails to load is refused and the
    previous one keeps serving; :attr:`last_error` says why.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.last_error: PolicyLoadError | None = None
        self._set = PolicySet({})
        self._lock = threading.Lock()
        try:
            self.reload()
        except PolicyLoadError:
            # At start there is no previous set: serve the shipped one, and say why.
            self._set = load_policies(shipped_policy_files(), generation=1)

    def reload(self) -> PolicySet:
        """Load again; raises :class:`PolicyLoadError` (and keeps the old set) on a bad document."""
        with self._lock:
            with self.sessions() as session:
                stored = stored_policy_files(session)
            generation = self._set.generation + 1
            try:
                loaded = load_policies([*shipped_policy_files(), *stored], generation=generation)
            except PolicyLoadError as error:
                self.last_error = error
                raise
            self._set, self.last_error = loaded, None
            return loaded

    def changed(self, entries: Sequence[FeedEntry]) -> None:
        if any(entry.topic in (Topic.policies, Topic.everything) for entry in entries):
            # A bad document leaves the previous set serving; last_error tells staff why.
            with contextlib.suppress(PolicyLoadError):
                self.reload()

    def current(self) -> PolicySet:
        return self._set
