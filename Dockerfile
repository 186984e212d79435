# wile-e-coyote release image: docker build -t wile-e-coyote .
# Run against Boulder's dev environment (on its docker network), e.g.
#   docker run --network boulder_bouldernet wile-e-coyote --duration 5m hammer 50
# Override any config key with WEC_<SECTION>__<KEY> environment variables.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev default-libmysqlclient-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything but what .dockerignore leaves out: Cargo.toml names bench and test targets too.
COPY . .
RUN cargo build --release --locked --bin wile-e-coyote

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libmariadb3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wile-e-coyote /usr/local/bin/wile-e-coyote
COPY config /etc/wile-e-coyote
# The challenge server as config/boulder.toml listens: http-01 on 5002, tls-alpn-01 on 5001,
# DNS on 8053 (UDP and TCP).
EXPOSE 5002 5001 8053/tcp 8053/udp
USER nobody
ENTRYPOINT ["wile-e-coyote", "--config", "/etc/wile-e-coyote/boulder.toml"]
CMD ["--duration", "1m", "hammer", "10"]
