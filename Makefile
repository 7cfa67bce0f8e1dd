# misalign build.  `make` builds build/misalign; `make test` installs what is
# missing, builds, and runs every test normally and again under ASan+UBSan.
# BUILD=dir selects the output folder; SAN=1 builds with sanitizers.

CC      ?= gcc
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
CFLAGS_COMMON = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -mavx2 -mfma -mf16c \
                -ffp-contract=off -fopenmp -g -MMD -MP
SANFLAGS = -fsanitize=address,undefined
ifeq ($(SAN),1)
  CFLAGS_COMMON += $(SANFLAGS) -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  OPT = -O1
  LDFLAGS_SAN = $(SANFLAGS)
endif
# DATA_DIR=dir: where an installed binary finds data/ (flag defaults); unset, it is the checkout's data/.
ifneq ($(DATA_DIR),)
  CFLAGS_COMMON += -DML_DATA_DIR='"$(DATA_DIR)"'
endif
# SAN=fuzz: clang + libFuzzer instrumentation for the fuzz/ targets.
ifeq ($(SAN),fuzz)
  CFLAGS_COMMON += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
  LDFLAGS_SAN = -fsanitize=fuzzer,address,undefined
endif
CFLAGS  = $(CFLAGS_COMMON) $(OPT)
LDLIBS  = -lopenblas -lcjson -ljpeg -lm
LDFLAGS = -fopenmp $(LDFLAGS_SAN)

# MPI=1: `mpirun -np N misalign eval` (src/cli/mpi.c, OpenMPI's flags from mpicc); MPI=0: no MPI launch.
# By default on when mpicc is present, except in sanitizer builds (OpenMPI's own leaks drown ASan's report).
ifeq ($(SAN),)
  MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
else
  MPI ?= 0
endif
ifeq ($(MPI),1)
  MPI_CFLAGS := $(shell mpicc --showme:compile)
  LDLIBS_CLI := $(shell mpicc --showme:link)
endif

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(filter-out $(if $(filter 1,$(MPI)),,src/cli/mpi.c),$(wildcard src/cli/*.c)))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/bench_*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libmisalign.a
BIN      := $(BUILD)/misalign
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps test test-unit test-asan test-fuzz bench demo matrix fuzz fuzz-build clean
all: $(BIN) $(TESTS)

deps:
	@bash scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# stb_image is third-party code included as-is: its own warnings are not ours.
# -fwrapv: its arithmetic can overflow int on corrupt files; wrapping makes that defined.
$(BUILD)/obj/src/io/stb_impl.o: CFLAGS += -Wno-error -w -fwrapv

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The CLI objects know whether MPI is in: a change of MPI rebuilds them.
$(CLI_OBJ): CFLAGS += $(if $(filter 1,$(MPI)),-DML_MPI $(MPI_CFLAGS))
$(CLI_OBJ): $(BUILD)/mpi-$(MPI).stamp
$(BUILD)/mpi-$(MPI).stamp:
	@mkdir -p $(BUILD) && rm -f $(BUILD)/mpi-*.stamp && touch $@

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS) $(LDLIBS_CLI)

$(BUILD)/tests/%: tests/%.c $(LIB) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Builds use every core; the tests themselves run one program at a time.
JOBS ?= $(shell nproc)
test: deps
	$(MAKE) -j$(JOBS) test-unit
	$(MAKE) -j$(JOBS) test-asan
	$(MAKE) -j$(JOBS) test-fuzz

test-unit: $(BIN) $(TESTS)
	bash tests/run.sh $(BUILD)

# The same tests under AddressSanitizer + UBSan, in their own build folder.
test-asan:
	$(MAKE) -j$(JOBS) BUILD=build-asan SAN=1 all
	ASAN_OPTIONS=detect_leaks=1 bash tests/run.sh build-asan

$(BUILD)/fuzz/%: fuzz/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

fuzz-build: $(FUZZERS)

# Builds every fuzz target with clang + libFuzzer (binaries in build-fuzz/fuzz/).
# Run one for long: build-fuzz/fuzz/fuzz_X -max_total_time=600 fuzz/corpus/X
fuzz:
	$(MAKE) -j$(JOBS) CC=clang BUILD=build-fuzz SAN=fuzz fuzz-build

# Regression run: every fuzz target replays its seed corpus and fuzzes briefly.
test-fuzz: fuzz
	bash fuzz/smoke.sh build-fuzz

# The main job: fresh scenes, baseline vs VCD vs APC-only, the survey's Table 1 (scripts/demo.sh).
demo: deps $(BIN)
	ML_BIN=$(BIN) bash scripts/demo.sh

# The cause x method table: every method on every organism over fresh scenes, then the report
# (scripts/matrix.sh; runs/matrix/report.{md,html}).  Resumable: run it again after a stop.
matrix: deps $(BIN)
	ML_BIN=$(BIN) bash scripts/matrix.sh

bench: deps $(BIN) $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
