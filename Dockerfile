# One image for the receiver, the worker and the sandbox; the compose file picks the command.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY crmsync ./crmsync
COPY receiver ./receiver
COPY crm_connector ./crm_connector
COPY suitecrm_sandbox ./suitecrm_sandbox
COPY suitecrm_package ./suitecrm_package
COPY docs/deploy ./docs/deploy
RUN pip install . && useradd --system --home /app crmsync && mkdir -p /app/var && chown crmsync /app/var
USER crmsync
EXPOSE 8080
CMD ["crmsync", "serve"]
