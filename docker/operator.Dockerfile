# syntax=docker/dockerfile:1
# Shijim operator image: `kopf run -m shijim_operator` (the Helm chart sets the arguments).
# Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t ghcr.io/shijim/shijim-operator:0.1.0 .
# Stage 1 builds the shijim-operator wheel (pure Python, operator/pyproject.toml); stage 2
# installs only that wheel and its dependencies (kopf, kubernetes, PyYAML) as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist ./operator

FROM ${PYTHON_IMAGE} AS operator
LABEL org.opencontainers.image.title="shijim-operator" \
      org.opencontainers.image.description="Kopf operator for Shijim TradingShards" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 shijim \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin shijim
COPY --from=builder /dist/ /tmp/wheels/
# The wheel's own dependencies are pinned in operator/pyproject.toml (kopf==1.45.2).
RUN pip install --no-cache-dir /tmp/wheels/shijim_operator-*.whl \
    && rm -rf /tmp/wheels
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["kopf"]
CMD ["run", "--module=shijim_operator", "--standalone", "--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
