"""The benchmark's echo bot: the smallest python-telegram-bot application that answers every
text with itself, run in its own process (`python -m bot.sim.bench echo URL TOKEN`) against the
same simulated Telegram and citizens, so that the real bot's numbers can be read against the
framework's floor.
"""

from __future__ import annotations


def echo_main(base_url: str, token: str, lifted: bool = False, transport: str = "httpx") -> None:
    """Run the minimal echo bot: one MessageHandler that replies the text.

    `lifted` runs it as the bot runs in the saturation phase: 1,000 messages a second.
    `transport` "httpx" is python-telegram-bot's default HTTP client, the framework's floor;
    "aiohttp" is the bot's own (bot.telegram.transport), to read the bot against an echo bot
    that calls Telegram as cheaply as it does.
    """
    from telegram import Update
    from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler
    from telegram.ext import filters as f

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text
        await update.effective_message.reply_text(update.effective_message.text)

    base_file_url = base_url.replace("/bot", "/file/bot")
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        # The same limiter as the bot's: without it the echo bot's replies past 30/s get 429.
        .rate_limiter(AIORateLimiter(overall_max_rate=1000 if lifted else 30, max_retries=0))
    )
    if transport == "aiohttp":
        from bot.telegram.transport import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    app = builder.build()
    app.add_handler(MessageHandler(f.TEXT, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES)
