"""HTML for the report's questions: the core's `Question` rendered as a form's fields."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from bot.core.conversation import Kind, Question, Step
from bot.core.domain import Unit
from bot.i18n import Gettext
from bot.messages import web as words
from bot.messages.questions import Prompt
from bot.web.uploads import ACCEPT


def field_error(error: str | None) -> str:
    """Return a refusal shown next to its field (already HTML)."""
    return f'<p class="error" role="alert" id="err">{error}</p>' if error else ""


def choice_buttons(choices: Sequence[tuple[str, str]], primary: bool = False) -> str:
    """Return one large button per choice."""
    css = "" if primary else ' class="secondary"'
    return "".join(
        f'<button type="submit" name="choice" value="{escape(v)}"{css}>{escape(label)}</button>'
        for v, label in choices
    )


def unit_tree(units: Sequence[Unit], parent: str | None = None) -> str:
    """Return the enabled units as nested lists of buttons, children under their parent."""
    children = [u for u in units if u.parent == parent and not u.disabled]
    if not children:
        return ""
    items = "".join(
        f'<li><button type="submit" class="secondary" name="choice" value="{escape(u.code)}">'
        f"{escape(u.name)}</button>{unit_tree(units, u.code)}</li>"
        for u in children
    )
    return f"<ul>{items}</ul>"


def question_fields(
    question: Question,
    words_of: Prompt,
    _: Gettext,
    *,
    error: str | None,
    kept: dict[str, str],
    found: Sequence[Unit] = (),
    units: Sequence[Unit] = (),
) -> str:
    """Return the fields and buttons of one question (inside its form)."""
    label = words.labels(_)
    described = ' aria-describedby="err"' if error else ""
    kind = question.kind
    text = escape(kept.get("text", ""))
    if kind is Kind.UNIT:
        found_html = ""
        if found:
            found_html = (
                '<ul class="choices">'
                + "".join(
                    f"<li>{choice_buttons([(u.code, u.name)], primary=True)}</li>" for u in found
                )
                + "</ul>"
            )
        return (
            f'<label for="text">{escape(label["search_label"])}</label>'
            f'<input id="text" name="text" value="{text}"{described}>'
            f"{field_error(error)}"
            f'<button type="submit" name="go" value="text">{escape(label["search"])}</button>'
            f"{found_html}"
            f'<p>{escape(label["browse"])}</p><div class="tree">{unit_tree(units)}</div>'
        )
    if kind in (Kind.TEXT, Kind.DATE, Kind.AMOUNT, Kind.PLACE):
        if question.step is Step.DESCRIPTION:
            widget = f'<textarea id="text" name="text"{described}>{text}</textarea>'
        else:
            mode = ' inputmode="numeric"' if kind is Kind.DATE else ""
            widget = f'<input id="text" name="text" value="{text}"{mode}{described}>'
        return (
            f'<label for="text">{escape(label["answer"])}</label>{widget}{field_error(error)}'
            f'<button type="submit" name="go" value="text">{escape(label["next"])}</button>'
            f"{choice_buttons(words_of.choices)}"
        )
    if kind is Kind.FILES:
        return (
            f'<label for="files">{escape(label["files"])}</label>'
            f'<input id="files" type="file" name="files" multiple accept="{ACCEPT}"{described}>'
            f"{field_error(error)}"
            f'<button type="submit" name="go" value="files">{escape(label["upload"])}</button>'
            f"{choice_buttons(words_of.choices)}"
        )
    if kind is Kind.CONTACT:
        name = escape(kept.get("name", ""))
        phone = escape(kept.get("phone", ""))
        return (
            f'<label for="name">{escape(label["name"])}</label>'
            f'<input id="name" name="name" value="{name}" autocomplete="name"{described}>'
            f'<label for="phone">{escape(label["phone"])}</label>'
            f'<input id="phone" name="phone" type="tel" value="{phone}" autocomplete="tel"'
            f"{described}>{field_error(error)}"
            f'<button type="submit" name="go" value="contact">{escape(label["next"])}</button>'
            f"{choice_buttons(words_of.choices)}"
        )
    # Choices only: the category, the identity, the review.
    return field_error(error) + choice_buttons(words_of.choices, primary=True)
