# syntax=docker/dockerfile:1.7
#
# One image with all four Ward binaries:
#   ward-command-api  ward-query-api  ward-projector  ward (operator tool: migrate, topics)
# Choose the binary when running it, e.g. `docker run ward:0.1.0 ward-command-api`
# (the Kubernetes manifests and docker-compose.yml set the command per service).
#
#   docker build -t ward:0.1.0 .
#
# NOTE: this file has not been built on the project's development machines — they have no
# Docker engine. See docs/operations.md ("What has and has not been tested").

# The toolchain the workspace is developed and tested with.
ARG RUST_VERSION=1.95.0

# --- build environment ----------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-trixie AS chef
# rdkafka builds the bundled librdkafka with its own configure script: it needs C and C++
# compilers, make, perl and python3, and OpenSSL's headers (TLS and SASL/SCRAM to the broker).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make perl python3 libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
# cargo-chef turns the dependency graph into a "recipe" so dependencies are compiled in a
# layer of their own, reused until Cargo.toml or Cargo.lock change.
RUN cargo install cargo-chef --version 0.1.77 --locked
WORKDIR /src
# sqlx's query macros must not need a live database at build time.
ENV SQLX_OFFLINE=true

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked \
        --bin ward-command-api \
        --bin ward-query-api \
        --bin ward-projector \
        --bin ward \
 && mkdir -p /out \
 && cp target/release/ward-command-api target/release/ward-query-api \
       target/release/ward-projector target/release/ward /out/

# --- runtime ----------------------------------------------------------------------------------
# glibc, libgcc, OpenSSL's libssl3 and CA certificates, no shell, no package manager. Debian 13 like the
# builder, so the binaries find the glibc they were linked against. Pin the digest
# (…:nonroot@sha256:…) in your release pipeline.
FROM gcr.io/distroless/cc-debian13:nonroot AS runtime
COPY --from=builder /out/ /usr/local/bin/
# "nonroot" in distroless; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
ENV WARD_LOG_FORMAT=json
# command-api, query-api, projector (operational endpoints only)
EXPOSE 8080 8081 8082
CMD ["/usr/local/bin/ward", "--help"]
