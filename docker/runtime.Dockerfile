# syntax=docker/dockerfile:1
# Shijim runtime image: `python -m shijim run ...` (the operator's StatefulSet sets the command).
# Build from the repository root:
#   docker build -f docker/runtime.Dockerfile -t ghcr.io/shijim/shijim:0.1.0 .
# Stage 1 builds the shijim wheel (Rust core via maturin); stage 2 installs only that wheel and its
# Python dependencies on python:3.11-slim, with no compiler and a numeric non-root user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG RUST_IMAGE=rust:1.88-slim-bookworm

FROM ${RUST_IMAGE} AS rust

FROM ${PYTHON_IMAGE} AS builder
# The Rust toolchain comes from the official Rust image; building on the same Python base as the
# final stage keeps the wheel's Python ABI and glibc identical to where it runs.
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo \
    RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH
# Debian's gcc/libc6-dev are the linker for rustc; their versions follow the pinned base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir maturin==1.16.0
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY shijim_core ./shijim_core
COPY runtime ./runtime
# Beside the wheel: the recorder's ClickHouse client and embedded engine (the `clickhouse` extra),
# pinned where the wheel's own dependencies are, pyproject.toml; the final stage installs both.
RUN maturin build --release --locked --out /dist \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print(*p['project']['optional-dependencies']['clickhouse'], sep='\n')" > /dist/clickhouse.txt

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="shijim" \
      org.opencontainers.image.description="Shijim (Micro Alpha) trading runtime" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 shijim \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin shijim
COPY --from=builder /dist/ /tmp/wheels/
# The wheel's own dependencies are pinned in pyproject.toml; pip resolves them from the wheel.
RUN pip install --no-cache-dir /tmp/wheels/shijim-*.whl --requirement /tmp/wheels/clickhouse.txt \
    && rm -rf /tmp/wheels \
    && install -d -o 10001 -g 10001 /var/lib/shijim
WORKDIR /var/lib/shijim
USER 10001:10001
EXPOSE 9100
ENTRYPOINT ["python", "-m", "shijim"]
CMD ["run", "--feed", "sim"]
