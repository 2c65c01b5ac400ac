# The two set-up commands are `make demo` and `make test`; both install what is
# missing first (Debian packages, as root or through sudo).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test unit integration sanitize-test demo bench clean

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

# The whole suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (any report fails the test that caused it, and the weir processes the
# integration tests start are built the same way). Left out: the judge's seed sweeps (pure arithmetic, minutes long
# even unsanitized; `make test` runs them) and the suites that only measure
# RSS, which the sanitizers' shadow memory and quarantine make meaningless.
SAN_BUILD ?= build-asan
SAN_EXCLUDE ?= ^(RolloutScaleGrid|RolloutSimulation|StatisticsMemoryTest|BurstMemory)
sanitize-test: deps
	cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEIR_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -E '$(SAN_EXCLUDE)'

demo: build
	$(BUILD)/weir demo

bench: build
	bash bench/run.sh $(BUILD)/weir
	$(BUILD)/weir_head_work_bench bench/results/head_work.md

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
