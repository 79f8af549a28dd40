#!/usr/bin/env bash
# Client matrix: Sarama (Go, Debian's golang-github-shopify-sarama-dev)
# against a live gateway.
#   conformance/clients/sarama.sh HOST:PORT
# Builds sarama/main.go offline against the packaged Sarama (GO111MODULE=off,
# GOPATH=<cache>:/usr/share/gocode; the build cache and binary go in
# $KGW_CONFORMANCE_CACHE/go, default ~/.cache/kgw-conformance/go), then runs
# it. Output: "client: ..." then one "ok: ..." line per step; "FAIL: reason"
# and exit 1 at the first failure; exit 77 when Go or Sarama is not installed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
b=${1:?usage: sarama.sh HOST:PORT}
gocache=${KGW_CONFORMANCE_CACHE:-$HOME/.cache/kgw-conformance}/go
command -v go >/dev/null || { echo "SKIP: Go is not installed (apt-get install golang-go)"; exit 77; }
[[ -d /usr/share/gocode/src/github.com/Shopify/sarama ]] ||
  { echo "SKIP: Sarama is not installed (apt-get install golang-github-shopify-sarama-dev)"; exit 77; }
echo "client: sarama $(dpkg-query -W -f='${Version}' golang-github-shopify-sarama-dev 2>/dev/null), $(go version | cut -d' ' -f3)"

mkdir -p "$gocache/gopath"
export GO111MODULE=off GOPROXY=off GOFLAGS='' GOPATH=$gocache/gopath:/usr/share/gocode GOCACHE=$gocache/build
go build -o "$gocache/kgw-client-sarama" "$here/sarama/main.go" >"$gocache/build.log" 2>&1 ||
  { echo "FAIL: go build of sarama/main.go failed: $(grep -v '^#' "$gocache/build.log" | head -1) (log: $gocache/build.log)"; exit 1; }
echo "ok: built sarama/main.go against the packaged Sarama"
exec "$gocache/kgw-client-sarama" "$b"
