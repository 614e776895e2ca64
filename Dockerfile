# One image for every role: `docker run rae-pipeline ingress|enricher|writer|up|mcp|...`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/, data/ and .git): every member crate,
# the files the code embeds (nats.conf) and the declared test and bench targets cargo reads.
COPY . .
RUN cargo build --release --locked --bin rae-pipeline

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/rae-pipeline --create-home rae
COPY --from=build /src/target/release/rae-pipeline /usr/local/bin/rae-pipeline
COPY integrations.example.yaml /etc/rae-pipeline/integrations.example.yaml
USER rae
WORKDIR /var/lib/rae-pipeline
ENV RAE_PIPELINE_LISTEN=0.0.0.0:8080 \
    RAE_PIPELINE_METRICS_LISTEN=0.0.0.0:9464
EXPOSE 8080 9464
ENTRYPOINT ["rae-pipeline"]
CMD ["up", "--data-dir", "/var/lib/rae-pipeline/data"]
