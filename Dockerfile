# The Berth image: one static-ish binary on Debian slim, running as an
# unprivileged user. Build: docker build -t berth .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p berth && strip target/release/berth

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10000 --home-dir /data berth \
    && mkdir /data && chown berth /data
COPY --from=build /src/target/release/berth /usr/local/bin/berth
USER 10000
# Data (SQLite, blobs, keys) lives under /data unless the database and the
# blobs are elsewhere (BERTH_DATABASE_URL, BERTH_STORAGE_URL).
ENV BERTH_LISTEN=0.0.0.0:8080 BERTH_DATA_DIR=/data BERTH_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["berth"]
CMD ["serve"]
