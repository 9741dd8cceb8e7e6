# The bot as a container: slim, non-root, one process. Build: docker build -t liemchinh .
# Every worker runs `liemchinh run --webhook --standby`: on one PostgreSQL database they all work,
# sharing chats, the outbox, the jobs and Telegram's limits (README, "Running several workers").
FROM python:3.11-slim

# A fixed, unprivileged account; its home is the state folder for the keys ([storage] state_dir).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/liemchinh --create-home \
        --shell /usr/sbin/nologin liemchinh

WORKDIR /opt/liemchinh
# The catalogs are read from the source tree (bot/i18n.py): install it in place.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY locales ./locales
RUN python -m venv /opt/liemchinh/.venv \
    && /opt/liemchinh/.venv/bin/pip install --no-cache-dir --editable . \
    && find / -xdev -name '__pycache__' -path '*/liemchinh/*' -prune -exec rm -rf {} +

ENV PATH=/opt/liemchinh/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER liemchinh
WORKDIR /var/lib/liemchinh
EXPOSE 8443

# /healthz ([ops] enabled) answers once this worker serves.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8443/healthz', timeout=3)"]

ENTRYPOINT ["liemchinh"]
CMD ["run", "--webhook", "--standby", "--config", "/etc/liemchinh/config.toml", "--log-format", "json"]
