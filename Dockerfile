# The services' image: release binaries built on the official Swift image, run on Debian slim
# with only the runtime libraries, as a non-root user. `docker compose build` uses it.

# --- build ---------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka-dev libhiredis-dev libgeoip-dev libqrencode-dev libpng-dev libargon2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused while only the sources change.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib \
        --product master --product outbox --product replica --product notifier \
    && mkdir -p /out \
    && for name in master outbox replica notifier; do cp "$(swift build -c release --show-bin-path)/$name" /out/; done

# --- run -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka1 libhiredis0.14 libgeoip1 geoip-database libqrencode4 libpng16-16 libargon2-1 ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin shortener
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
COPY topics ./topics
COPY migrations ./migrations
COPY openapi.yaml ./
COPY web ./web
ENV SHORTENER_TOPICS_DIR=/app/topics SHORTENER_MIGRATIONS_DIR=/app/migrations SHORTENER_WEB_DIR=/app/web SHORTENER_HTTP_HOST=0.0.0.0
USER shortener
EXPOSE 8080 8081 8090 8091
CMD ["master", "serve"]
