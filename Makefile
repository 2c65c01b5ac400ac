# The two set-up commands are `make demo` and `make test`; both install what is
# missing first (Debian packages, as root or through sudo).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test unit integration demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# Every unit test (pure logic, simulated time), by label: no name list to fall behind.
unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# The integration suites (the real binary, fake and real upstreams on loopback).
integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration -j $(JOBS) --timeout 600

demo: build
	$(BUILD)/weir demo

bench: build
	bash bench/run.sh $(BUILD)/weir
	$(BUILD)/weir_head_work_bench bench/results/head_work.md

clean:
	rm -rf $(BUILD)
