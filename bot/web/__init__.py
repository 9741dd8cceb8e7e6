"""The citizens' web channel: report, follow, answer and confirm in a plain web page."""
