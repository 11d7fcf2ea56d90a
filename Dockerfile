# syntax=docker/dockerfile:1
# Multi-stage build: a static pollhook binary on a distroless, non-root base.
#
#   docker build -t pollhook .
#   docker buildx build --platform linux/amd64,linux/arm64 -t pollhook .
#
# The build stage runs on the builder's platform and cross-compiles (no cgo,
# so nothing else is needed), which is much faster than emulating arm64.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS TARGETARCH
# CGO_ENABLED=0: static, so it runs on a base without libc; -trimpath and
# -s -w: no build paths, symbol table or DWARF in the binary.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/pollhook ./cmd/pollhook \
 && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with the nonroot user
# (65532) and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pollhook /usr/local/bin/pollhook
# The store lives in /data (store.path: /data); mount a volume there so
# snapshots and queued webhooks survive the container. A new named volume
# takes this directory's owner, so pollhook can write to it.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME ["/data"]
# The default store.path is ./data: from / that is the volume.
WORKDIR /
USER 65532:65532
EXPOSE 8080
# The image has no curl: pollhook checks itself. Adjust the port if
# server.listen is not :8080 (docker run --health-cmd, or healthcheck: in
# Compose); Kubernetes ignores this and uses its probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/pollhook", "health", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/pollhook"]
CMD ["run", "--config", "/etc/pollhook/pollhook.yaml"]
