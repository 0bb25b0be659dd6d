# Airlock: everything a fresh Debian 12 machine (as root) needs is installed by `make deps`.
SHELL := /bin/bash
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

APT_PACKAGES := build-essential cmake pkg-config git ca-certificates \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
  libseccomp-dev libyaml-cpp-dev catch2 nlohmann-json3-dev \
  containerd runc busybox-static iproute2 nftables procps util-linux \
  python3 python3-pytest \
  golang-github-containerd-containerd-dev golang-github-containerd-ttrpc-dev \
  golang-github-opencontainers-specs-dev

.PHONY: all deps build test unit integration demo install bench clean

all: build

# Idempotent: apt-get runs only when a package is missing.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

unit: build
	$(BUILD)/bin/unit_tests

integration: build
	$(PYTHON) -m pytest -x -q test/integration

test: unit integration

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
