# One image for web and workers; the command picks the role (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY marketplace marketplace
COPY imagegen imagegen
COPY search search
COPY backbones backbones
COPY workers workers
COPY manage.py ./
RUN pip install --no-cache-dir "setuptools<81" wheel && pip install --no-cache-dir --no-build-isolation ".[postgres]"
RUN DJANGO_SECRET_KEY=build-only MARKETPLACE_PROCESS=web python manage.py collectstatic --noinput -v 0
EXPOSE 8000
