# tabphone in a container. Build:  docker build -t tabphone .
# Run (host networking keeps SIP/RTP simple):
#   docker run --network host -v /etc/tabphone:/etc/tabphone tabphone --config /etc/tabphone/tabphone.conf
# Without a config the embedded defaults listen on 127.0.0.1 inside the container only; set
# TABPHONE_SERVER_LISTEN=0.0.0.0:8443 together with a [user] section to reach it from outside,
# and TABPHONE_SIP_PUBLIC_IP to the host's address when publishing ports instead of host networking.
FROM debian:bookworm AS build
COPY scripts/install-deps /src/scripts/install-deps
RUN /src/scripts/install-deps
COPY . /src
WORKDIR /src
RUN meson setup /build --buildtype=release --prefix=/usr && ninja -C /build && \
    DESTDIR=/install ninja -C /build install

FROM debian:bookworm
COPY scripts/install-deps /usr/local/lib/tabphone/install-deps
# The runtime needs the same libraries; install-deps is the one recipe (it also brings the
# -dev packages, a few MB more, in exchange for never drifting from the build's list).
RUN /usr/local/lib/tabphone/install-deps && rm -rf /var/lib/apt/lists/*
COPY --from=build /install/usr /usr
COPY scripts/gen-certs /usr/local/bin/tabphone-gen-certs
WORKDIR /var/lib/tabphone
RUN tabphone-gen-certs /var/lib/tabphone/certs
# SIP over TLS listens on [sip] tls_port (default: the SIP port + 1) when an account uses TLS.
# The server drains calls for [shutdown] drain_seconds (30) on SIGTERM: stop it with
# `docker stop -t 60` so Docker's default 10 s does not cut the drain short.
EXPOSE 8443/tcp 5060/udp 5060/tcp 5061/tcp
ENTRYPOINT ["/usr/bin/tabphone"]
