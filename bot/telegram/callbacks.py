"""Every button's callback data, each format defined once: built, parsed and routed from here.

A format is a frozen dataclass declared with its prefix and the chats its buttons belong in:

    @dataclass(frozen=True)
    class AlertAction(OnReport, prefix="st", chats=ALERT_CHATS):
        action: Action
        report_id: int

Its fields follow the prefix in order, each after a ":" ("st:ack:42"). `pack()` builds the
string and refuses one over Telegram's 64 bytes; `parse()` reads back only a whole string that
`pack()` could have built ("st:ack:42\\n" is not one); `pattern()` is the same rule compiled for
`CallbackQueryHandler`. A field's type says how it travels: `int` a positive id, `bool`
"yes"/"no", an enum its values, a `Literal` its strings, and `Annotated[..., Spec(...)]`
anything else. Values are codes, ids and enum values, never translated text.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Self

from telegram.constants import ChatType

from bot.config import UNIT_CODE
from bot.core.conversation import Step
from bot.core.domain import Action, DeclineReason

# Telegram refuses a button whose callback_data is longer.
MAX_BYTES = 64

# Where a format's buttons belong. A citizen's buttons live in their private chat with the bot;
# a unit's in its group or channel, and in an admin's private chat, which gets copies of alerts
# (the top of the tree, /report CODE).
PRIVATE: frozenset[str] = frozenset({ChatType.PRIVATE})
UNIT_CHATS: frozenset[str] = frozenset({ChatType.GROUP, ChatType.SUPERGROUP, ChatType.CHANNEL})
ALERT_CHATS: frozenset[str] = UNIT_CHATS | PRIVATE


@dataclass(frozen=True)
class Spec:
    """How a field's value travels: the regular expression of its text, and None's text."""

    regex: str
    none: str | None = None


# A positive id (report, relay): ASCII digits, no sign, no leading zero.
ID = r"[1-9][0-9]{0,11}"
ChatId = Annotated[int, Spec(r"-?[1-9][0-9]{0,15}")]
Page = Annotated[int, Spec(r"0|[1-9][0-9]{0,2}")]
Stars = Annotated[int, Spec(r"[1-5]")]
UnitCode = Annotated[str, Spec(UNIT_CODE)]
# A unit, or "-" for the top of the tree.
UnitRef = Annotated[str | None, Spec(UNIT_CODE, none="-")]
# Which languages exist is the handler's business: an unknown one is merely ignored there.
LanguageCode = Annotated[str, Spec(r"[a-z]{2}")]


@dataclass(frozen=True)
class _Field:
    name: str
    regex: str
    read: Callable[[str], object]
    write: Callable[[Any], str]


@dataclass(frozen=True)
class _Layout:
    fields: tuple[_Field, ...]
    regex: re.Pattern[str]


class CallbackData:
    """Base of every format; a subclass is a frozen dataclass declared with its prefix."""

    prefix: ClassVar[str]
    chats: ClassVar[frozenset[str]]

    def __init_subclass__(
        cls, *, prefix: str | None = None, chats: frozenset[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        # A class without a prefix is a family of formats (OnReport), not a format.
        if prefix is None:
            return
        if not chats:
            raise TypeError(f"{cls.__name__} must say which chats its buttons belong in")
        for other in FORMATS.values():
            if _of_family(other.prefix, prefix) or _of_family(prefix, other.prefix):
                raise TypeError(f"{cls.__name__}'s prefix overlaps {other.__name__}'s")
        cls.prefix = prefix
        cls.chats = chats
        FORMATS[prefix] = cls

    def pack(self) -> str:
        """Return the callback data; raise ValueError if it is too long or would not parse."""
        layout = _layout(type(self))
        values = [f.write(getattr(self, f.name)) for f in layout.fields]
        data = sized(":".join([self.prefix, *values]))
        # What is built must read back as itself: a value outside its field's form (a unit
        # code with a space, a negative id) would make a button that can never work.
        if type(self).parse(data) != self:
            raise ValueError(f"{data!r} does not read back as {self!r}")
        return data

    @classmethod
    def parse(cls, data: object) -> Self | None:
        """Return the value of the whole string `data`, or None if it is not one of these."""
        if not isinstance(data, str) or len(data.encode()) > MAX_BYTES:
            return None
        layout = _layout(cls)
        found = layout.regex.fullmatch(data)
        if found is None:
            return None
        values = {f.name: f.read(found[f.name]) for f in layout.fields}
        built: Self = cls(**values)
        return built

    @classmethod
    def pattern(cls, **fixed: object) -> re.Pattern[str]:
        """Return the whole-string pattern for CallbackQueryHandler, some fields fixed."""
        layout = _layout(cls)
        unknown = set(fixed) - {f.name for f in layout.fields}
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        parts = [
            (f.name, re.escape(f.write(fixed[f.name])) if f.name in fixed else f.regex)
            for f in layout.fields
        ]
        compiled = _compile(cls.prefix, parts)
        _ISSUED[compiled.pattern] = cls
        return compiled

    @classmethod
    def fits(cls, chat_type: str | None) -> bool:
        """Tell whether this format's buttons belong in a chat of that type."""
        return chat_type in cls.chats


# Every format by prefix, filled as they are declared.
FORMATS: dict[str, type[CallbackData]] = {}
# Every pattern handed out by `pattern()`, so that a registration can be traced to its format.
_ISSUED: dict[str, type[CallbackData]] = {}


def _of_family(prefix: str, data: str) -> bool:
    """Tell whether `data` starts with `prefix` as a whole word ("st:…", not "stx:…")."""
    return re.match(rf"{re.escape(prefix)}(?![A-Za-z0-9_])", data) is not None


def family(data: str | None) -> type[CallbackData] | None:
    """Return the format whose prefix `data` starts with, well-formed or not."""
    if not data:
        return None
    return next((f for f in FORMATS.values() if _of_family(f.prefix, data)), None)


def format_of(pattern: object) -> type[CallbackData] | None:
    """Return the format whose `pattern()` produced `pattern`, if one did."""
    if isinstance(pattern, re.Pattern):
        return _ISSUED.get(pattern.pattern)
    return None


def sized(data: str) -> str:
    """Return `data` if Telegram accepts it as callback data; raise ValueError if too long."""
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data[:80]!r}")
    return data


def _compile(prefix: str, parts: list[tuple[str, str]]) -> re.Pattern[str]:
    # \A…\Z, never ^…$: "$" also matches before a final newline.
    fields = "".join(f":(?P<{name}>{regex})" for name, regex in parts)
    return re.compile(rf"\A{re.escape(prefix)}{fields}\Z")


def _layout(cls: type[CallbackData]) -> _Layout:
    """Work out, once per format, how each field is written and read from its type."""
    # Worked out at first use, not at declaration: the dataclass decorator runs after
    # __init_subclass__, so the fields are not known yet then.
    if cls not in _LAYOUTS:
        if not dataclasses.is_dataclass(cls) or FORMATS.get(getattr(cls, "prefix", "")) is not cls:
            raise TypeError(f"{cls.__name__} is not a callback data format")
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = tuple(_field(f.name, hints[f.name]) for f in dataclasses.fields(cls))
        regex = _compile(cls.prefix, [(f.name, f.regex) for f in fields])
        _LAYOUTS[cls] = _Layout(fields, regex)
    return _LAYOUTS[cls]


_LAYOUTS: dict[type[CallbackData], _Layout] = {}


def _field(name: str, hint: Any) -> _Field:
    if typing.get_origin(hint) is Annotated:
        base, spec = typing.get_args(hint)[:2]
        assert isinstance(spec, Spec)
        return _spec_field(name, base, spec)
    if hint is bool:
        return _Field(name, "yes|no", lambda text: text == "yes", lambda v: "yes" if v else "no")
    if hint is int:
        return _Field(name, ID, int, str)
    if isinstance(hint, type) and issubclass(hint, Enum):
        enum = hint
        values = "|".join(re.escape(str(m.value)) for m in enum)
        return _Field(name, values, enum, lambda v: str(enum(v).value))
    if typing.get_origin(hint) is Literal:
        return _Field(name, "|".join(map(re.escape, typing.get_args(hint))), str, str)
    raise TypeError(f"callback data field {name!r} of unsupported type {hint!r}")


def _spec_field(name: str, base: Any, spec: Spec) -> _Field:
    number = base is int
    none = spec.none

    def read(text: str) -> object:
        if none is not None and text == none:
            return None
        return int(text) if number else text

    def write(value: object) -> str:
        if value is None and none is not None:
            return none
        return str(value)

    regex = spec.regex if none is None else f"{re.escape(none)}|{spec.regex}"
    return _Field(name, regex, read, write)


# -- families shared by several formats ------------------------------------------------------


class OnReport(CallbackData):
    """A button about one report, named by id; who may press it is checked against the report."""

    report_id: int


# A unit-tree keyboard's buttons for one scope (a report, a chat): `browse` opens a branch
# (None: the top) at a page, `choose` takes a unit. Typically `partial(TransferBrowse, 42)`.
TreeBrowse = Callable[[str | None, int], CallbackData]
TreeChoose = Callable[[str], CallbackData]


# -- a unit's officers, on an alert and its pickers ------------------------------------------


@dataclass(frozen=True)
class AlertAction(OnReport, prefix="st", chats=ALERT_CHATS):
    """A step on an alert: "st:ack:42"."""

    action: Action
    report_id: int


@dataclass(frozen=True)
class TransferBrowse(OnReport, prefix="tb", chats=ALERT_CHATS):
    """A page of the transfer picker's tree: "tb:42:QN:0", "tb:42:-:1" for the top."""

    report_id: int
    unit: UnitRef
    page: Page


@dataclass(frozen=True)
class TransferChoose(OnReport, prefix="tu", chats=ALERT_CHATS):
    """The unit a report is transferred to: "tu:42:DT"."""

    report_id: int
    unit: UnitCode


@dataclass(frozen=True)
class DeclineChoose(OnReport, prefix="dr", chats=ALERT_CHATS):
    """The reason a report is declined: "dr:42:dup"."""

    report_id: int
    reason: DeclineReason


@dataclass(frozen=True)
class PickerClose(OnReport, prefix="tx", chats=ALERT_CHATS):
    """Close a picker without doing anything: "tx:42"."""

    report_id: int


# -- admins, binding a chat to a unit (in the admin's private chat) --------------------------


@dataclass(frozen=True)
class BindBrowse(CallbackData, prefix="bb", chats=PRIVATE):
    """A page of the tree offered for a chat: "bb:-1001234567890:-:0"."""

    chat_id: ChatId
    unit: UnitRef
    page: Page


@dataclass(frozen=True)
class BindChoose(CallbackData, prefix="bd", chats=PRIVATE):
    """Bind the chat to the unit: "bd:-1001234567890:HL"."""

    chat_id: ChatId
    unit: UnitCode


# -- the citizen, in their private chat with the bot -----------------------------------------


@dataclass(frozen=True)
class Answer(OnReport, prefix="ans", chats=PRIVATE):
    """Answer the unit's question about a report: "ans:42"."""

    report_id: int


@dataclass(frozen=True)
class Verdict(OnReport, prefix="fb", chats=PRIVATE):
    """Whether a resolved report really is resolved: "fb:yes:42"."""

    resolved: bool
    report_id: int


@dataclass(frozen=True)
class Rating(OnReport, prefix="rate", chats=PRIVATE):
    """The citizen's rating of the handling, 1–5 stars: "rate:42:5"."""

    report_id: int
    stars: Stars


@dataclass(frozen=True)
class ReceiptRequest(OnReport, prefix="rcpt", chats=PRIVATE):
    """A signed receipt of the citizen's own report: "rcpt:42"."""

    report_id: int


@dataclass(frozen=True)
class Forget(CallbackData, prefix="fg", chats=PRIVATE):
    """Erase the citizen's personal data, or not: "fg:yes"."""

    erase: bool


@dataclass(frozen=True)
class Language(CallbackData, prefix="lang", chats=PRIVATE):
    """The language to speak: "lang:vi"."""

    code: LanguageCode


@dataclass(frozen=True)
class Consent(CallbackData, prefix="consent", chats=PRIVATE):
    """Consent to the processing of personal data, given or refused: "consent:yes"."""

    given: bool


@dataclass(frozen=True)
class NewReport(CallbackData, prefix="report:new", chats=PRIVATE):
    """Start a new report: "report:new"."""


# -- the citizen's report: the core's questions as buttons -----------------------------------

# A step of the report, by its language-independent key (bot.core.conversation.Step.key).
StepKey = Annotated[str, Spec(r"[a-z]{1,12}")]
# A choice's value: a category, a unit code, "skip", "confirm", "edit_unit", …
ChoiceValue = Annotated[str, Spec(r"[A-Za-z0-9_.-]{1,40}")]


@dataclass(frozen=True)
class ReportAnswer(CallbackData, prefix="a", chats=PRIVATE):
    """A choice answering one of the report's questions: "a:category:bribe", "a:unit:HL"."""

    step: StepKey
    value: ChoiceValue

    @classmethod
    def of(cls, step: Step, value: str) -> ReportAnswer:
        """Return the button data of `value` as the answer to `step`."""
        return cls(step.key, value)

    @property
    def question(self) -> Step | None:
        """Return the step this answers, or None for a step this version does not have."""
        return Step.from_key(self.step)


@dataclass(frozen=True)
class UnitBrowse(CallbackData, prefix="ub", chats=PRIVATE):
    """A page of the unit tree offered for the report's unit: "ub:QN:0", "ub:-:1"."""

    unit: UnitRef
    page: Page
