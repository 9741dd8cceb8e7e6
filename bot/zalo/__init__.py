"""The Zalo channel: the report conversation as numbered lines, on the same core as Telegram."""
