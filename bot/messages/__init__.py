"""Every text the bot builds from data, free of any channel: labels, the report and its alert,
what citizens, units and admins are told, relayed messages and the citizen's copy of their data.
Nothing here imports `telegram` or the handlers, so a web page or another messenger can show
the same texts; every stored or typed value is shortened to its display budget, so that each
message fits Telegram's length limits by construction (`limits`), and HTML-escaped where the
text is HTML."""
