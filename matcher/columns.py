"""A kind's profiles held field by field, each in the smallest form its values allow.

One Python dict per profile cost ~0.7 KB at 1M profiles (the dict, its boxed ints, dates and
strings) before a single value of substance. Here a field is a column: integers in the
narrowest integer dtype that holds them, floats and flags as numpy arrays, texts as UTF-8 bytes
with a start and a length per row (a repeated short text is stored once), times as integer
microseconds, and anything else (enums, code lists) dictionary-encoded: each distinct value held
once, a row holding its code. Every column keeps a state per row (absent, None, or a value), so
a record read back is the one written, key for key.

A value a column cannot hold exactly (an integer beyond 64 bits, a float in an integer
column, ...) turns that column into a dictionary-encoded one: nothing is ever coerced.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Final

import numpy as np

ABSENT: Final = 0
NULL: Final = 1
PRESENT: Final = 2
_MISSING: Final = object()  # RowView's sentinel for an absent field
# Integer columns start at the narrowest of these and widen when a value needs it.
_INTEGER_DTYPES: Final = (np.int8, np.int16, np.int32, np.int64)
_CODE_DTYPES: Final = (np.uint8, np.uint16, np.uint32, np.uint64)
# Short texts seen again reuse their bytes (districts, stages, cities); a text field keeps at
# most this many spans to look up, so a field of distinct texts costs no more than that.
SHARED_SPANS: Final = 4096
_UTC_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH: Final = dt.datetime(1970, 1, 1)
_MICROSECOND: Final = dt.timedelta(microseconds=1)


def with_room(buffer: np.ndarray, length: int) -> np.ndarray:
    """``buffer``, or a copy twice as long (new rows zero), so that it holds ``length`` rows."""
    if len(buffer) >= length:
        return buffer
    grown = np.zeros(max(length, 2 * len(buffer), 16), dtype=buffer.dtype)
    grown[: len(buffer)] = buffer
    return grown


_BOUNDS: Final = {
    np.dtype(dtype): (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for dtype in (*_INTEGER_DTYPES, *_CODE_DTYPES)
}


def _widened(array: np.ndarray, value: int, ladder: tuple[type[np.integer[Any]], ...]) -> np.ndarray:
    """``array`` in the narrowest dtype of ``ladder`` that also holds ``value``."""
    low, high = _BOUNDS[array.dtype]
    if low <= value <= high:
        return array
    for dtype in ladder:
        low, high = _BOUNDS[np.dtype(dtype)]
        if low <= value <= high and np.dtype(dtype).itemsize >= array.dtype.itemsize:
            return array.astype(dtype)
    raise OverflowError(value)


class Field(ABC):
    """One field's values by row position, with each row's state (absent, None, a value)."""

    # The attributes holding this field's arrays (what is memory-mapped).
    array_names: tuple[str, ...] = ("state",)

    def __init__(self) -> None:
        self.state = np.zeros(0, np.uint8)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.array_names}

    def adopt(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Hold ``arrays`` (equal to :meth:`arrays`'s, such as memory-mapped copies) instead."""
        for name in self.array_names:
            setattr(self, name, arrays[name])

    @abstractmethod
    def holds(self, value: Any) -> bool:
        """Whether ``value`` (not None) can be stored and read back exactly."""

    @abstractmethod
    def _store(self, at: int, value: Any) -> None: ...

    @abstractmethod
    def _load(self, at: int) -> Any: ...

    def set(self, at: int, value: Any) -> None:
        self.state = with_room(self.state, at + 1)
        if value is None:
            self.state[at] = NULL
        else:
            self._store(at, value)
            self.state[at] = PRESENT

    def clear(self, at: int) -> None:
        if at < len(self.state):
            self.state[at] = ABSENT

    def has(self, at: int) -> bool:
        return at < len(self.state) and self.state.item(at) != ABSENT

    def get(self, at: int) -> Any:
        """The value at ``at``, None where absent or None."""
        return self._load(at) if at < len(self.state) and self.state.item(at) == PRESENT else None

    def present(self, rows: int) -> np.ndarray:
        """Rows ``[0, rows)`` holding a value (not None, not absent)."""
        state = self.state[:rows]
        mask = np.zeros(rows, bool)
        mask[: len(state)] = state == PRESENT
        return mask

    def values(self, rows: int) -> Iterator[Any]:
        """Every row's value in ``[0, rows)``, None where absent or None."""
        present = self.present(rows).tolist()
        return (self._load(at) if held else None for at, held in enumerate(present))


class _NumberField(Field):
    """Integers, floats or flags in one numpy array."""

    exact_type: type
    array_names = ("state", "numbers")

    def __init__(self, dtype: type[np.generic]) -> None:
        super().__init__()
        self.numbers = np.zeros(0, dtype)

    def holds(self, value: Any) -> bool:
        return type(value) is self.exact_type

    def _store(self, at: int, value: Any) -> None:
        self.numbers = with_room(self.numbers, at + 1)
        self.numbers[at] = value

    def _load(self, at: int) -> Any:
        return self.numbers.item(at)

    def floats(self, rows: int) -> np.ndarray:
        """Rows ``[0, rows)`` as float64, NaN where absent or None."""
        out = np.full(rows, np.nan)
        # The values array is only as long as the last row that held a value.
        held = np.flatnonzero(self.present(rows))
        out[held] = self.numbers[held]
        return out


class IntegerField(_NumberField):
    exact_type = int

    def __init__(self) -> None:
        super().__init__(np.int8)

    def holds(self, value: Any) -> bool:
        return type(value) is int and -(2**63) <= value < 2**63

    def _store(self, at: int, value: Any) -> None:
        self.numbers = _widened(self.numbers, value, _INTEGER_DTYPES)
        super()._store(at, value)


class FloatField(_NumberField):
    exact_type = float

    def __init__(self) -> None:
        super().__init__(np.float64)


class FlagField(_NumberField):
    exact_type = bool

    def __init__(self) -> None:
        super().__init__(np.bool_)


class TextField(Field):
    """Strings as bytes, each row a start and a length into them: UTF-8, or UTF-16 where that is
    shorter (Chinese text: 2 bytes a character, where UTF-8 takes 3 and a Python str 2 plus ~74 a
    string). A text seen again reuses its bytes while the field has looked up fewer than
    ``SHARED_SPANS`` distinct ones (short codes, and the benchmark's cloned descriptions)."""

    array_names = ("state", "starts", "lengths")

    def __init__(self) -> None:
        super().__init__()
        # The bytes: a fixed part (memory-mapped once shared), then those appended since.
        self.base = np.zeros(0, np.uint8)
        self.data = bytearray()
        self.starts = np.zeros(0, np.uint32)
        # Twice the byte length, plus 1 for UTF-16.
        self.lengths = np.zeros(0, np.uint16)
        self._spans: dict[int, tuple[int, int]] = {}

    def arrays(self) -> dict[str, np.ndarray]:
        data = np.concatenate([self.base, np.frombuffer(bytes(self.data), np.uint8)])
        return super().arrays() | {"bytes": data}

    def adopt(self, arrays: Mapping[str, np.ndarray]) -> None:
        super().adopt(arrays)
        self.base, self.data = arrays["bytes"], bytearray()

    def holds(self, value: Any) -> bool:
        return type(value) is str

    def _bytes(self, start: int, length: int) -> bytes:
        fixed = len(self.base)
        if start < fixed:
            return self.base[start : start + length].tobytes()
        return bytes(self.data[start - fixed : start - fixed + length])

    def _store(self, at: int, value: Any) -> None:
        raw, wide = _encoded(value)
        span = self._spans.get(hash(value))
        if span is None or span[1] != 2 * len(raw) + wide or self._bytes(span[0], len(raw)) != raw:
            span = (len(self.base) + len(self.data), 2 * len(raw) + wide)
            self.data += raw
            if len(self._spans) < SHARED_SPANS:
                self._spans[hash(value)] = span
        self.starts = _widened(with_room(self.starts, at + 1), span[0], _CODE_DTYPES)
        self.lengths = _widened(with_room(self.lengths, at + 1), span[1], _CODE_DTYPES)
        self.starts[at], self.lengths[at] = span

    def compact(self) -> None:
        """Keep only the bytes some row reads: an overwritten or erased text leaves memory (and
        the files the next :func:`matcher.mapped.shared` writes)."""
        rows = np.flatnonzero(self.present(len(self.state)))
        texts = [self._load(at) for at in rows.tolist()]
        self.base, self.data, self._spans = np.zeros(0, np.uint8), bytearray(), {}
        for at, text in zip(rows.tolist(), texts, strict=True):
            self._store(at, text)

    def _load(self, at: int) -> Any:
        length = self.lengths.item(at)
        raw = self._bytes(self.starts.item(at), length >> 1)
        return raw.decode("utf-16-le" if length & 1 else "utf-8", "surrogatepass")


def _encoded(text: str) -> tuple[bytes, int]:
    """``text``'s shorter encoding, and 1 if that is UTF-16."""
    narrow = text.encode("utf-8", "surrogatepass")
    if len(narrow) <= 2 * len(text):
        return narrow, 0
    wide = text.encode("utf-16-le", "surrogatepass")
    return (wide, 1) if len(wide) < len(narrow) else (narrow, 0)


class TimeField(Field):
    """Datetimes as integer microseconds since 1970 (UTC for aware ones), with each row's zone
    dictionary-encoded."""

    array_names = ("state", "micros", "zone_codes")

    def __init__(self) -> None:
        super().__init__()
        self.micros = np.zeros(0, np.int64)
        self.zone_codes = np.zeros(0, np.uint8)
        self.zones: list[dt.tzinfo | None] = []

    def holds(self, value: Any) -> bool:
        if type(value) is not dt.datetime:
            return False
        if value.tzinfo not in self.zones and len(self.zones) > np.iinfo(np.uint8).max:
            return False
        loaded = self._decode(self._micros(value), value.tzinfo)
        return loaded == value and loaded.utcoffset() == value.utcoffset() and loaded.fold == value.fold

    @staticmethod
    def _micros(value: dt.datetime) -> int:
        return (value - (_NAIVE_EPOCH if value.tzinfo is None else _UTC_EPOCH)) // _MICROSECOND

    @staticmethod
    def _decode(micros: int, zone: dt.tzinfo | None) -> dt.datetime:
        if zone is None:
            return _NAIVE_EPOCH + micros * _MICROSECOND
        return (_UTC_EPOCH + micros * _MICROSECOND).astimezone(zone)

    def _store(self, at: int, value: Any) -> None:
        if value.tzinfo not in self.zones:
            self.zones.append(value.tzinfo)
        self.micros = with_room(self.micros, at + 1)
        self.zone_codes = with_room(self.zone_codes, at + 1)
        self.micros[at] = self._micros(value)
        self.zone_codes[at] = self.zones.index(value.tzinfo)

    def _load(self, at: int) -> Any:
        return self._decode(self.micros.item(at), self.zones[self.zone_codes.item(at)])


class DateField(Field):
    """Dates as their proleptic ordinal."""

    array_names = ("state", "days")

    def __init__(self) -> None:
        super().__init__()
        self.days = np.zeros(0, np.int32)

    def holds(self, value: Any) -> bool:
        return type(value) is dt.date

    def _store(self, at: int, value: Any) -> None:
        self.days = with_room(self.days, at + 1)
        self.days[at] = value.toordinal()

    def _load(self, at: int) -> Any:
        return dt.date.fromordinal(self.days.item(at))


class NullField(Field):
    """A field no row has given a value yet (only None, or absent)."""

    def holds(self, value: Any) -> bool:
        return False

    def _store(self, at: int, value: Any) -> None:
        raise TypeError(f"a column of None cannot hold {value!r}")

    def _load(self, at: int) -> Any:
        return None


class CodedField(Field):
    """Any values, dictionary-encoded: each distinct one held once, a row holding its code.
    A list reads back as a new list of the same items (callers may not share one)."""

    array_names = ("state", "codes")

    def __init__(self) -> None:
        super().__init__()
        self.codes = np.zeros(0, np.uint8)
        self.distinct: list[Any] = []
        self._code_of: dict[Hashable, int] = {}

    def holds(self, value: Any) -> bool:
        return True

    def _store(self, at: int, value: Any) -> None:
        key = _key(value)
        code = self._code_of.get(key) if key is not None else None
        if code is None:
            code = len(self.distinct)
            self.distinct.append(list(value) if type(value) is list else value)
            if key is not None:
                self._code_of[key] = code
        self.codes = _widened(with_room(self.codes, at + 1), code, _CODE_DTYPES)
        self.codes[at] = code

    def _load(self, at: int) -> Any:
        value = self.distinct[self.codes.item(at)]
        return list(value) if type(value) is list else value

    def values(self, rows: int) -> Iterator[Any]:
        # The stored objects themselves: read by the columns' builders, never handed out.
        present = self.present(rows).tolist()
        # The codes array is only as long as the last row that held a value.
        codes = self.codes[:rows].tolist()
        codes += [0] * (rows - len(codes))
        distinct = self.distinct
        return (distinct[code] if held else None for code, held in zip(codes, present, strict=True))


def _key(value: Any) -> Hashable | None:
    """A key equal only for values equal and of one type (1, 1.0, True and a str enum and its
    text stay apart); None for a value that cannot be keyed."""
    if type(value) in (list, tuple):
        items = tuple(_key(item) for item in value)
        return None if None in items else (type(value), items)
    try:
        hash(value)
    except TypeError:
        return None
    return (type(value), value)


_TYPED_FIELDS: Final[dict[type, type[Field]]] = {
    bool: FlagField,
    int: IntegerField,
    float: FloatField,
    str: TextField,
    dt.datetime: TimeField,
    dt.date: DateField,
}


class RowStore:
    """Records by row position, held as one :class:`Field` per key."""

    def __init__(self) -> None:
        self.fields: dict[str, Field] = {}

    def write(self, at: int, record: Mapping[str, Any], *, overwrite: bool) -> None:
        """Row ``at`` becomes ``record`` (every other key of it absent when ``overwrite``)."""
        if overwrite:
            for column in self.fields.values():
                column.clear(at)
        for name, value in record.items():
            field = self.fields.get(name)
            if field is None:
                field = self.fields[name] = NullField() if value is None else _field_for(value)
            elif value is not None and not field.holds(value):
                field = self.fields[name] = _retyped(field, value)
            field.set(at, value)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field's arrays, named ``<field number>.<part>`` (the numbers of :attr:`fields`'
        order: a field's name need not make a file name)."""
        return {
            f"{number}.{part}": array
            for number, field in enumerate(self.fields.values())
            for part, array in field.arrays().items()
        }

    def adopt(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Hold ``arrays`` (equal to :meth:`arrays`'s, such as memory-mapped copies) instead."""
        for number, field in enumerate(self.fields.values()):
            prefix = f"{number}."
            field.adopt({name[len(prefix) :]: a for name, a in arrays.items() if name.startswith(prefix)})

    def compact(self) -> None:
        """Drop the bytes of texts no row holds any more (see :meth:`TextField.compact`)."""
        for field in self.fields.values():
            if isinstance(field, TextField):
                field.compact()

    def read(self, at: int) -> dict[str, Any]:
        record = {}
        for name, field in self.fields.items():
            state = field.state.item(at) if at < len(field.state) else ABSENT
            if state != ABSENT:
                record[name] = field._load(at) if state == PRESENT else None
        return record

    def view(self, at: int) -> RowView:
        return RowView(self, at)

    def value(self, at: int, name: str) -> Any:
        field = self.fields.get(name)
        return None if field is None else field.get(at)

    def values(self, name: str, rows: int) -> Iterator[Any]:
        """Field ``name`` of rows ``[0, rows)``, None where absent or None."""
        field = self.fields.get(name)
        return iter([None] * rows) if field is None else field.values(rows)

    def floats(self, name: str, rows: int) -> np.ndarray | None:
        """Field ``name`` as float64 when it is a numeric column (None otherwise)."""
        field = self.fields.get(name)
        if field is None:
            return np.full(rows, np.nan)
        return field.floats(rows) if isinstance(field, _NumberField) else None


def _field_for(value: Any) -> Field:
    field = _TYPED_FIELDS.get(type(value), CodedField)()
    return field if field.holds(value) else CodedField()


def _retyped(field: Field, value: Any) -> Field:
    """A field holding ``field``'s rows and able to take ``value`` too: one of ``value``'s type
    if ``field`` has held only None so far, else a dictionary-encoded one (it holds anything)."""
    if isinstance(field, NullField):
        typed = _field_for(value)
        typed.state = field.state.copy()
        return typed
    coded = CodedField()
    for at in np.flatnonzero(field.state != ABSENT).tolist():
        coded.set(at, field.get(at))
    return coded


class RowView(Mapping[str, Any]):
    """One row read field by field on demand: a pass over every row that reads a field or two
    (a column's builder, a pool's places) does not decode whole records."""

    __slots__ = ("_at", "_store")

    def __init__(self, store: RowStore, at: int) -> None:
        self._store, self._at = store, at

    def __getitem__(self, name: str) -> Any:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        # The row's state read once (what Field.has, then Field.get, would read twice).
        field, at = self._store.fields.get(name), self._at
        if field is None or at >= len(field.state):
            return default
        state = field.state.item(at)
        if state == PRESENT:
            return field._load(at)
        return None if state == NULL else default

    def __iter__(self) -> Iterator[str]:
        return (name for name, field in self._store.fields.items() if field.has(self._at))

    def __len__(self) -> int:
        return sum(1 for _ in self)
