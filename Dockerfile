FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DRIP_DATA_DIR=/var/lib/drip \
    DRIP_STATIC_ROOT=/app/static DRIP_SCHEDULES_DIR=/app/schedules DRIP_MESSAGES_DIR=/app/messages
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY drip ./drip
# Exact versions from constraints.txt: the image installs what was tested, not whatever is newest.
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system --home /var/lib/drip drip \
    && mkdir -p /var/lib/drip && chown drip /var/lib/drip
# The admin's static files, collected once and served by whitenoise. The key only lets the
# (development) settings load for this step; nothing is signed with it.
RUN DRIP_SECRET_KEY=collectstatic-only-nothing-is-signed drip collectstatic --noinput
COPY schedules ./schedules
COPY messages ./messages
USER drip
EXPOSE 8000
CMD ["drip", "web", "--bind", "0.0.0.0:8000", "--workers", "3"]
