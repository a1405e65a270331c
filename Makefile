# keel — one obvious entry:
#   make            build the CLI (build/keel) and the library
#   make demo       the main job end to end on the shipped data (writes out/)
#   make test       unit, end-to-end and fuzz-corpus tests; ends with "N passed, N failed"
#   make test SANITIZE=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       run every fuzz target for FUZZ_SECONDS each (clang libFuzzer)
#   make bench      benchmarks against the named peers (see bench/RESULTS.md)
#   make format     clang-format the C sources
# Every target first installs missing Debian packages (scripts/deps.sh).

CC       ?= cc
SANITIZE ?=
WERROR   ?=
FUZZ_SECONDS ?= 30

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
OPT      := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDSAN    := -fsanitize=address,undefined
else
BUILD    ?= build
OPT      := -O2 -g
LDSAN    :=
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings \
            -Wno-unused-parameter $(if $(WERROR),-Werror)
CPPFLAGS := -Iinclude -Isrc -I. -D_GNU_SOURCE
CFLAGS   := -std=c17 $(OPT) $(WARN) -MMD -MP
LDLIBS   := -lsqlite3 -lsodium -lyaml -ldnnl -lgomp -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
FUZZ_SRC := $(filter-out fuzz/replay.c,$(sort $(wildcard fuzz/*.c)))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/%.c=%)
REPLAY   := $(FUZZ_NAMES:%=$(BUILD)/replay-%)

.PHONY: all deps test demo fuzz bench format clean
.SECONDARY:
all: $(BUILD)/keel

deps:
	@scripts/deps.sh build

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# clang's UndefinedBehaviorSanitizer takes about five minutes on the AVX-512 kernels (hundreds
# of inlined intrinsics), so the fuzz build (clang) passes KERNEL_FLAGS=-fno-sanitize=undefined
# for that one file; AddressSanitizer stays on, and the gcc build with SANITIZE=1 checks it
# under both.
KERNEL_FLAGS ?=
$(BUILD)/src/tensor/kernels.o: CFLAGS += $(KERNEL_FLAGS)

$(BUILD)/libkeel.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/keel: $(TOOL_OBJ) $(BUILD)/libkeel.a
	$(CC) $(LDSAN) -o $@ $(TOOL_OBJ) $(BUILD)/libkeel.a $(LDLIBS)

$(BUILD)/unit: $(UNIT_OBJ) $(BUILD)/libkeel.a
	$(CC) $(LDSAN) -o $@ $(UNIT_OBJ) $(BUILD)/libkeel.a $(LDLIBS)

# Each fuzz target also links with a small driver that replays its corpus, so `make test`
# runs every corpus file through the parser without needing libFuzzer.
$(BUILD)/replay-%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/replay.o $(BUILD)/libkeel.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

# Programs the end-to-end tests drive (tests/tools) and benchmark drivers (bench/*.c with a
# main of their own), linked against the library like any embedding program.
$(BUILD)/registry_stress: $(BUILD)/tests/tools/registry_stress.o $(BUILD)/libkeel.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/audit_bench: $(BUILD)/bench/audit_bench.o $(BUILD)/libkeel.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

test: $(BUILD)/keel $(BUILD)/unit $(REPLAY) $(BUILD)/registry_stress
	@tests/run.sh $(BUILD)

demo: $(BUILD)/keel
	@scripts/demo.sh $(BUILD)/keel

# libFuzzer builds live in build-fuzz; corpora grow in fuzz/corpus-work, not in the tree.
fuzz:
	@scripts/deps.sh build fuzz
	@scripts/fuzz.sh $(FUZZ_SECONDS)

bench: $(BUILD)/keel $(BUILD)/audit_bench
	@scripts/deps.sh build bench
	@bench/run.sh $(BUILD)/keel

format:
	clang-format -i $(LIB_SRC) $(wildcard src/*/*.h) include/*.h $(TOOL_SRC) \
	  $(UNIT_SRC) $(wildcard tests/unit/*.h) $(wildcard fuzz/*.c) $(wildcard fuzz/*.h) \
	  $(wildcard bench/*.c) $(wildcard tests/tools/*.c)

clean:
	rm -rf build build-san build-fuzz

-include $(BUILD)/tests/tools/registry_stress.d $(BUILD)/bench/audit_bench.d
-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(BUILD)/%.d) $(BUILD)/fuzz/replay.d
