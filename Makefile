# Airlock: everything a fresh Debian 12 machine (as root) needs is installed by `make deps`.
SHELL := /bin/bash
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

APT_PACKAGES := build-essential cmake pkg-config git ca-certificates \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev libprotoc-dev protobuf-compiler libabsl-dev \
  libseccomp-dev libyaml-cpp-dev catch2 nlohmann-json3-dev libnftables-dev libgit2-dev zlib1g-dev libhttp-parser-dev \
  containerd runc crun busybox-static iproute2 nftables procps util-linux openssl \
  python3 python3-pytest \
  golang-github-containerd-containerd-dev golang-github-containerd-ttrpc-dev \
  golang-github-opencontainers-specs-dev golang-github-gogo-protobuf-dev \
  golang-github-gogo-googleapis-dev golang-github-containerd-cgroups-dev

.PHONY: all deps build test unit sanitize image integration demo install bench bench-deps clean

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
	$(BUILD)/bin/proto_wire_test

# The bundled test image: a deterministic OCI archive of Debian's static busybox
# (no registry, no network). Rebuilt only when the script or busybox changes.
IMAGE := $(BUILD)/images/busybox-oci.tar
# The same busybox as a pod's sandbox ("pause") image for the CRI tests: it only sleeps.
PAUSE_IMAGE := $(BUILD)/images/pause-oci.tar
image: $(IMAGE) $(PAUSE_IMAGE)
$(IMAGE): test/image/build_image.py /bin/busybox
	$(PYTHON) test/image/build_image.py --busybox /bin/busybox --out $@
$(PAUSE_IMAGE): test/image/build_image.py /bin/busybox
	$(PYTHON) test/image/build_image.py --busybox /bin/busybox --name localhost/airlock/pause:latest \
	  --cmd '["sleep", "2147483647"]' --out $@

# As root: a private containerd runs every scenario once per runtime. Narrow it with
#   make integration AIRLOCK_IT_RUNTIMES=io.containerd.runc.v2 PYTEST_ARGS='-q -k exec'
PYTEST_ARGS ?= -q -ra
AIRLOCK_IT_RUNTIMES ?= io.containerd.runc.v2,io.containerd.airlock.v2
integration: build image
	AIRLOCK_IT_BUILD=$(abspath $(BUILD)) AIRLOCK_IT_IMAGE=$(abspath $(IMAGE)) \
	  AIRLOCK_IT_RUNTIMES=$(AIRLOCK_IT_RUNTIMES) \
	  $(PYTHON) -m pytest $(PYTEST_ARGS) test/integration

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer (own build dir; the
# static airlock-init and the probe that runs under the seccomp filter stay uninstrumented).
SANITIZE_BUILD ?= $(BUILD)-asan
sanitize: deps
	cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAIRLOCK_SANITIZE=ON
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target unit_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(SANITIZE_BUILD)/bin/unit_tests

test: unit sanitize integration

# The story of the five steps (examples/demo/demo.py): a private containerd, a package mirror in
# its own netns, `airlock run` on a copy of examples/demo-repo. Cleans up after itself.
demo: build image
	$(PYTHON) examples/demo/demo.py --build $(abspath $(BUILD)) --image $(abspath $(IMAGE))

# Both shims side by side against one private containerd (as root; a few minutes). Results in
# $(BUILD)/bench/results.{md,json,png}. Not part of `make test`: no timed assertion belongs there.
BENCH_APT_PACKAGES := python3-matplotlib
BENCH_ARGS ?=
bench-deps:
	@missing=$$(for p in $(BENCH_APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: build image bench-deps
	$(PYTHON) test/bench/bench.py --build $(abspath $(BUILD)) --image $(abspath $(IMAGE)) \
	  --out $(abspath $(BUILD))/bench $(BENCH_ARGS)

# Files are replaced, never written into: running shims keep the binary and module they mapped,
# and running sandboxes the helper bound into them (it must match the shim that made them).
INSTALLED := bin/containerd-shim-airlock-v2 bin/airlock libexec/airlock/airlock-init lib/airlock/airlock-grpc.so
install: build
	rm -f $(addprefix $(PREFIX)/,$(INSTALLED))
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD)
