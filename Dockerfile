# The FinSys image (issue 14; docs/operations.md "Containers"): one binary,
# `finsys`, that runs as server, worker, migrate, provider-sim and the
# command-line tools.
#
#   docker build -t finsys .                      # or: podman build --format docker ...
#   docker run --rm finsys --help
#
# Two stages: `build` has the -dev packages, meson, ninja and gcc and builds
# a release binary (hardened, assertions on, no sanitizer: meson.build);
# the runtime stage has only the shared libraries the binary links (their
# packages are listed below and checked against `ldd build/finsys` by
# tests/integration/test_images_static.py), the migrations, and a user of
# its own. BASE is any Debian 12 image: the default is Docker Hub's; the
# tests build one from the Debian archive with debootstrap (make
# test-images) and pass --build-arg BASE=localhost/debian:bookworm.
#
# The admin console (web/, built with npm and Vite) is not in the image: a
# Node toolchain in the build stage for one static directory is not worth
# it here. /admin/ answers 503 unless FINSYS_WEB_DIR points at a built
# console mounted into the container.
#
# HEALTHCHECK is kept by Docker's image format only: with podman or
# buildah, build with --format docker (the OCI format drops it).

ARG BASE=debian:bookworm

FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
        gcc libc6-dev meson ninja-build pkg-config git \
        libevent-dev libpq-dev libjansson-dev libsodium-dev libssl-dev \
        libnats-dev libhiredis-dev libcurl4-openssl-dev zlib1g-dev \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY src src
RUN meson setup build --buildtype=release -Db_ndebug=false \
    && ninja -C build finsys \
    && strip build/finsys

FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
# The runtime libraries of `finsys` (readelf -d: its NEEDED entries), by
# Debian 12 package; ca-certificates for webhooks and S3 over https.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
        libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 \
        libpq5 libjansson4 libsodium23 libssl3 \
        libnats3.4 libhiredis0.14 libcurl4 zlib1g ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/finsys \
        --shell /usr/sbin/nologin finsys \
    && install -d -o finsys -g finsys -m 750 /var/lib/finsys /var/lib/finsys/objects
COPY --from=build /src/build/finsys /usr/local/bin/finsys
COPY db/migrations /usr/share/finsys/db/migrations
COPY db/functions /usr/share/finsys/db/functions
COPY deploy/images/finsys/finsys-healthcheck deploy/images/finsys/finsys-resolve-redis \
     /usr/local/bin/
# Listen on every address of the container (the default, 127.0.0.1, is
# unreachable from outside it); the object store (receipts) in a directory
# the user owns: mount a volume shared by servers and workers there.
ENV FINSYS_HTTP_HOST=0.0.0.0 \
    FINSYS_MIGRATIONS_DIR=/usr/share/finsys/db/migrations \
    FINSYS_OBJECTS_DIR=/var/lib/finsys/objects
USER finsys
WORKDIR /var/lib/finsys
# server, worker (/healthz, /state, /metrics), provider-sim
EXPOSE 8080 8081 8090
# GET /healthz on the port of whichever command runs (server, worker,
# provider-sim, webhook-sink), with bash's /dev/tcp: no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/finsys-healthcheck"]
ENTRYPOINT ["finsys"]
CMD ["server"]
