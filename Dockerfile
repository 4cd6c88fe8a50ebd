FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DRIP_HOME=/var/lib/drip \
    DRIP_SCHEDULES_DIR=/app/schedules DRIP_MESSAGES_DIR=/app/messages
WORKDIR /app
COPY pyproject.toml README.md ./
COPY drip ./drip
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/drip drip \
    && mkdir -p /var/lib/drip && chown drip /var/lib/drip
COPY schedules ./schedules
COPY messages ./messages
USER drip
EXPOSE 8000
CMD ["gunicorn", "drip.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
