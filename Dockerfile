# wile-e-coyote release image: docker build -t wile-e-coyote .   (podman/buildah build as well)
#
#   docker run --rm wile-e-coyote --help
#   docker run --network boulder_bouldernet wile-e-coyote \
#     --config /etc/wile-e-coyote/boulder.toml --duration 5m hammer 50
#
# The entry point is the binary alone: give --config (the image carries config/ in
# /etc/wile-e-coyote, or mount your own) and override any key with WEC_<SECTION>__<KEY>
# variables, the challenge server's listeners too, e.g.
#   -e WEC_CHALLENGE__HTTP01_LISTEN=0.0.0.0:80 -e WEC_CHALLENGE__TLSALPN01_LISTEN=0.0.0.0:443
#   -e WEC_CHALLENGE__DNS_LISTEN=0.0.0.0:53 -e WEC_CHALLENGE__ADDRESSES_V4=<address the CA reaches>
#
# It runs as the unprivileged user 10001. The binary carries the file capability
# cap_net_bind_service, so that user may bind ports 80, 443 and 53, as the validators of a real
# CA demand. Docker and Podman grant NET_BIND_SERVICE by default; after `--cap-drop ALL` add it
# back (`--cap-add NET_BIND_SERVICE`), or the kernel refuses to start the binary at all
# ("operation not permitted"). Under `--security-opt no-new-privileges` (Kubernetes:
# allowPrivilegeEscalation: false) file capabilities are not granted: bind ports of 1024 and
# up, or set the sysctl net.ipv4.ip_unprivileged_port_start=0 (deploy/k8s does). Ports are the
# config's: nothing below is fixed but the examples of EXPOSE.
# deploy/ runs it in shards (compose, Kubernetes): docs/scale-out.md.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev default-libmysqlclient-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything but what .dockerignore leaves out: Cargo.toml names bench targets and the testca
# workspace member, which must be there for the manifest to load.
COPY . .
# The registry and the target directory are build caches (BuildKit, Podman, Buildah): a rebuild
# after a source change compiles only what changed. The binary leaves the cache by copy.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin wile-e-coyote \
 && install -D -m 0755 target/release/wile-e-coyote /out/wile-e-coyote

FROM debian:bookworm-slim
COPY --from=build /out/wile-e-coyote /usr/local/bin/wile-e-coyote
# One layer: libcap2-bin only for setcap, removed again; the capability stays on the file (an
# extended attribute the layer carries).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libmariadb3 ca-certificates libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/wile-e-coyote \
 && apt-get purge -y --auto-remove libcap2-bin \
 && groupadd --system --gid 10001 wec \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/wile-e-coyote --create-home \
      --shell /usr/sbin/nologin wec \
 && install -d -o 10001 -g 10001 -m 0755 /reports \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
      /var/cache/debconf/*-old
COPY config /etc/wile-e-coyote
# Examples only (docker run -P): http-01, tls-alpn-01, DNS, DNS over HTTPS as a real CA reaches
# them; config/pebble.toml listens on 5002, 5001 and 8053 instead.
EXPOSE 80 443 53/tcp 53/udp 8443
# /reports: where deploy/ writes the JSON and HTML reports (a volume; owned by the user).
WORKDIR /var/lib/wile-e-coyote
USER 10001:10001
ENTRYPOINT ["wile-e-coyote"]
CMD ["--config", "/etc/wile-e-coyote/boulder.toml", "--duration", "1m", "hammer", "10"]
