"""Every Zalo message, in the order it arrived: a command typed as words, an answer to the
report in progress, an answer to a unit's question, a verdict or a rating.

A Zalo user is a reporter like any other: an internal user id from `identities`, the same
drafts, reports, daily limit, /mydata and /forget. The same person on Telegram is another
reporter; nothing links the two.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.core.domain import CITIZEN, Channel
from bot.core.outbox import AnswerPayload, Outgoing
from bot.core.parsing import format_code, normalize_code
from bot.core.workflow import QUESTION_MAX
from bot.i18n import SUPPORTED
from bot.messages import citizen as notices
from bot.messages import questions as texts
from bot.messages import zalo as words
from bot.messages.privacy import export_bytes, personal_data
from bot.zalo import report
from bot.zalo.receipts import routed_line, send_receipt, unit_name
from bot.zalo.render import choice_lines
from bot.zalo.services import Talk, ZaloServices
from bot.zalo.text import MESSAGE_LIMIT, fold
from bot.zalo.wire import IMAGE, TEXT, ZaloEvent

log = logging.getLogger(__name__)

# Commands typed as words, Vietnamese and English; /start is what Zalo's own button sends.
COMMANDS: dict[str, str] = {
    "/baocao": "report",
    "/report": "report",
    "/start": "report",
    "/trangthai": "status",
    "/status": "status",
    "/bienlai": "receipt",
    # The word the texts use for it ("biên nhận") works too.
    "/biennhan": "receipt",
    "/receipt": "receipt",
    "/cuatoi": "mine",
    "/myreports": "mine",
    "/huy": "cancel",
    "/cancel": "cancel",
    "/riengtu": "privacy",
    "/privacy": "privacy",
    "/dulieu": "mydata",
    "/mydata": "mydata",
    "/xoadulieu": "forget",
    "/forget": "forget",
    "/trogiup": "help",
    "/help": "help",
    "/ngonngu": "language",
    "/language": "language",
}
# The copy of a person's data is sent as text in at most this many messages.
MYDATA_PARTS_MAX = 20


class ZaloChat:
    """Handles each stored Zalo message."""

    def __init__(self, services: ZaloServices) -> None:
        self.services = services

    async def handle(self, seq: int, event: ZaloEvent) -> None:
        """Handle one message from a Zalo user."""
        db = self.services.db
        user_id = await db.identities.user_id(Channel.ZALO, event.user_id)
        if await db.admin.ban_state(user_id) is not None:
            return
        # Whatever waited for this person to write (Zalo's own rules) may go now.
        if await db.outbox.release_reporter(user_id):
            self.services.wake()
        locale = self.services.settings.default_locale
        locale, consented = await db.users.get_or_create_user(user_id, locale)
        talk = Talk(self.services, user_id, event.chat_id, locale, seq)
        if await self._flooding(talk):
            return
        await self.services.client.send_chat_action(event.chat_id)
        text = (event.text or "").strip()
        state = await db.channels.get_state(user_id)
        if event.event == TEXT and text.startswith("/"):
            name, _space, arg = text.partition(" ")
            command = COMMANDS.get(name.lower())
            if command is not None:
                await self._command(talk, command, arg.strip(), consented)
                return
        pending = state.get("pending")
        if pending == "consent" and event.event == TEXT:
            await self._consent(talk, text)
            return
        if pending == "forget" and event.event == TEXT:
            await self._forget(talk, text)
            return
        if pending == "language" and event.event == TEXT:
            await self._language(talk, text)
            return
        draft = await db.drafts.get_draft(user_id)
        if draft is not None:
            if event.event == TEXT and text:
                await report.answer_text(talk, draft, text)
            elif event.event == IMAGE and event.photo_url:
                await report.answer_photo(talk, draft, event.photo_url)
            else:
                await report.other(talk, draft)
            return
        if event.event == TEXT and text.startswith("/"):
            await talk.say(words.help_text(talk._))
            return
        if pending == "which" and event.event == TEXT and text.isdigit():
            await self._which(talk, int(text), state)
            return
        if event.event not in (TEXT, IMAGE) or (event.event == IMAGE and not event.photo_url):
            await talk.say(words.unreadable(talk._))
            return
        if await self._follow_up(talk, event, text):
            return
        if not consented:
            await self._ask_consent(talk)
            return
        await talk.say(words.nothing_open(talk._))

    async def _flooding(self, talk: Talk) -> bool:
        """Tell whether the person sends too fast to be read (told once); admins never are."""
        flood = self.services.flood
        if flood is None:
            return False
        verdict = flood(talk.user_id, self.services.db.clock())
        if verdict == "read" or await self.services.workflow.is_admin(talk.user_id):
            return False
        if verdict == "warn":
            await talk.say(words.too_fast(talk._))
        return True

    # -- commands -------------------------------------------------------------------------------

    async def _command(self, talk: Talk, command: str, arg: str, consented: bool) -> None:
        db = self.services.db
        _ = talk._
        await db.channels.set_state(talk.user_id, {})
        if command == "report":
            if not consented:
                await self._ask_consent(talk)
                return
            await report.begin(talk)
        elif command == "cancel":
            if await db.drafts.get_draft(talk.user_id) is None:
                await talk.say(words.nothing_open(_))
                return
            await db.drafts.delete_draft(talk.user_id)
            await talk.say(texts.cancelled(_))
        elif command == "status":
            await self._status(talk, arg)
        elif command == "receipt":
            await send_receipt(talk, arg)
        elif command == "mine":
            mine = await db.reports.reports_of(talk.user_id)
            if not mine:
                await talk.say(words.no_reports(_))
                return
            await talk.say(notices.reports_list(mine, _, talk.locale))
        elif command == "privacy":
            await talk.say(notices.privacy_notice(self.services.settings.privacy, _))
        elif command == "mydata":
            await self._mydata(talk)
        elif command == "language":
            await db.channels.set_state(talk.user_id, {"pending": "language"})
            names = [words.LANGUAGE_NAMES[code] for code in SUPPORTED]
            await talk.say(words.choose_language(_), choice_lines(names))
        elif command == "forget":
            await db.channels.set_state(talk.user_id, {"pending": "forget"})
            await talk.say(words.forget_question(_), choice_lines(list(words.forget_choices(_))))
        else:
            await talk.say(words.help_text(_))

    async def _status(self, talk: Talk, arg: str) -> None:
        _ = talk._
        code = normalize_code(arg) if arg else None
        if code is None:
            await talk.say(words.status_usage(_))
            return
        found = await self.services.db.reports.report_for_reporter(code, talk.user_id)
        if found is None:
            await talk.say(words.not_yours(_))
            return
        name = await unit_name(self.services, found.fields.unit_code)
        # Where it went and why, when a conflict of interest sent it above the unit it is about.
        routed = await routed_line(self.services, found, _)
        await talk.say(notices.report_status(found, name, _, talk.locale), routed)

    async def _mydata(self, talk: Talk) -> None:
        """Send everything stored about the person as JSON text (Zalo carries no files)."""
        document = await personal_data(self.services.db, talk.user_id, talk._)
        body = export_bytes(document).decode("utf-8")
        size = MESSAGE_LIMIT // 2
        parts = [body[i : i + size] for i in range(0, len(body), size)][:MYDATA_PARTS_MAX]
        await talk.say(words.mydata_intro(len(parts), talk._))
        for part in parts:
            await self.services.client.send_message(talk.chat_id, part)

    async def _forget(self, talk: Talk, text: str) -> None:
        db = self.services.db
        await db.channels.set_state(talk.user_id, {})
        yes = words.forget_choices(talk._)[0]
        if text.strip() == "1" or fold(text) == fold(yes):
            count = await db.privacy.forget_user(talk.user_id)
            log.info("a Zalo user's personal data was erased; %d reports de-identified", count)
            await talk.say(words.forgotten(talk._))
        else:
            await talk.say(words.kept(talk._))

    async def _language(self, talk: Talk, text: str) -> None:
        db = self.services.db
        chosen = [
            code
            for number, code in enumerate(SUPPORTED, start=1)
            if text == str(number) or fold(text) == fold(words.LANGUAGE_NAMES[code])
        ]
        if not chosen:
            await talk.say(words.pick_again(talk._))
            return
        await db.channels.set_state(talk.user_id, {})
        await db.users.set_locale(talk.user_id, chosen[0])
        talk.locale = chosen[0]
        await talk.say(words.language_set(talk._))
        draft = await db.drafts.get_draft(talk.user_id)
        if draft is not None:
            await report.show(talk, draft)

    # -- consent --------------------------------------------------------------------------------

    async def _ask_consent(self, talk: Talk) -> None:
        consent = texts.consent_text(talk._)
        await self.services.db.channels.set_state(talk.user_id, {"pending": "consent"})
        labels = [label for _value, label in consent.choices]
        await talk.say(consent.text, choice_lines(labels), words.pick_hint(talk._))

    async def _consent(self, talk: Talk, text: str) -> None:
        consent = texts.consent_text(talk._)
        agree = consent.choices[0][1]
        refuse = consent.choices[1][1]
        db = self.services.db
        if text == "1" or fold(text) == fold(agree):
            await db.users.set_consent(talk.user_id, talk.locale)
            await db.channels.set_state(talk.user_id, {})
            await talk.say(texts.thanks_for_consent(talk._))
            await report.begin(talk)
        elif text == "2" or fold(text) == fold(refuse):
            await db.channels.set_state(talk.user_id, {})
            await talk.say(words.kept(talk._))
        else:
            await talk.say(words.pick_again(talk._))

    # -- after the report: answers to units, verdicts, ratings ----------------------------------

    async def _follow_up(self, talk: Talk, event: ZaloEvent, text: str) -> bool:
        """Take a message as an answer, a verdict or a rating; False if nothing waits for one."""
        db = self.services.db
        waiting = await db.channels.awaiting_answer(talk.user_id)
        if len(waiting) == 1:
            await self._answer(talk, waiting[0][0], event, text)
            return True
        if waiting:
            # Several units wait: the answer is kept until the person says which report.
            photo = event.photo_url if event.event == IMAGE else None
            await db.channels.set_state(
                talk.user_id,
                {
                    "pending": "which",
                    "reports": [report_id for report_id, _code in waiting],
                    "text": text or event.caption or "",
                    "photo": photo,
                },
            )
            codes = [format_code(code) for _id, code in waiting]
            await talk.say(words.which_report(talk._), choice_lines(codes))
            return True
        # A verdict or a rating is taken for as long as a report may be reopened.
        days = max(self.services.settings.sla.reopen_days, 1)
        since = db.clock() - days * 86400
        verdicts = await db.channels.awaiting_verdict(talk.user_id, since)
        if verdicts and event.event == TEXT:
            return await self._verdict(talk, verdicts[0], text)
        return False

    async def _which(self, talk: Talk, number: int, state: dict[str, Any]) -> None:
        reports: list[int] = list(state.get("reports", []))
        if not 1 <= number <= len(reports):
            await talk.say(words.pick_again(talk._))
            return
        await self.services.db.channels.set_state(talk.user_id, {})
        photo = state.get("photo")
        event = ZaloEvent(
            event=IMAGE if photo else TEXT,
            message_id="",
            user_id="",
            chat_id=talk.chat_id,
            text=state.get("text") or None,
            photo_url=photo,
        )
        await self._answer(talk, reports[number - 1], event, str(state.get("text") or ""))

    async def _answer(self, talk: Talk, report_id: int, event: ZaloEvent, text: str) -> None:
        """Relay the person's answer (text or a photo) to the unit that asked, as on Telegram."""
        db = self.services.db
        found = await db.reports.get_report(report_id)
        if found is None:
            return
        data: bytes | None = None
        kind = "text"
        words_of = (text or event.caption or "").strip()[:QUESTION_MAX] or None
        if event.event == IMAGE and event.photo_url:
            fetched = await report.fetch_photo(talk, event.photo_url)
            if fetched is None:
                return
            data, kind = fetched[0], fetched[1]
        if words_of is None and data is None:
            await talk.say(words.unreadable(talk._))
            return
        # The answer goes to the unit that asked while it (or a unit above it) handles it.
        asking = await db.links.last_asking_unit(found.id)
        chain = await db.units.ancestors(found.fields.unit_code or "")
        target = asking if asking in chain else found.fields.unit_code
        stored = await db.files.add_answer(
            found.id,
            kind=kind,
            text=words_of,
            source=(talk.user_id, talk.seq),
            data=data,
            actor=CITIZEN,
            outgoing=Outgoing(AnswerPayload(), target),
        )
        if stored is not None:
            self.services.wake()
        await talk.say(words.answer_sent(format_code(found.code), talk._))

    async def _verdict(self, talk: Talk, waiting: tuple[int, str, str], text: str) -> bool:
        """Take "1"/"2" (or yes/no) as the verdict on a resolution, or 1-5 as a rating; False
        for anything else, which is then not taken for either."""
        report_id, code, what = waiting
        workflow = self.services.workflow
        found = await self.services.db.reports.get_report(report_id)
        if found is None:
            return False
        _ = talk._
        shown = format_code(code)
        said = fold(text)
        if what == "verdict":
            yes, no = words.verdict_choices(_)
            if said in _YES or said == fold(yes):
                done = await workflow.confirm_resolved(found)
            elif said in _NO or said == fold(no):
                done = await workflow.reopen(found)
                if done is None:
                    await talk.say(words.verdict_late(_))
                    return True
            else:
                return False
            if done is not None:
                self.services.wake()
            await talk.say(words.verdict_saved(_), words.rating_question(shown, _))
            return True
        if not (text.isdigit() and 1 <= int(text) <= 5):
            return False
        if await workflow.rate(found, int(text)) is not None:
            self.services.wake()
        await talk.say(words.verdict_saved(_))
        return True


# Short answers to "is it really resolved?", besides the number and the whole label.
_YES = frozenset({"1", "có", "co", "rồi", "roi", "đúng", "yes", "y"})
_NO = frozenset({"2", "không", "khong", "chưa", "chua", "no", "n"})
