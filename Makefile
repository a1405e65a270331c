# keel — one obvious entry:
#   make            build the CLI (build/keel) and libkeel (build/libkeel.a, build/libkeel.so)
#   make install PREFIX=/usr/local   install libkeel, keel.h, keel.pc and the CLI
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
LDLIBS   := -lmicrohttpd -lgnutls -lzstd -lsqlite3 -lsodium -lyaml -ldnnl -lgomp -lm -lpthread
# libkeel, the embeddable runtime, needs only these (no SQLite, HTTP or YAML):
RT_LIBS  := -lsodium -ldnnl -lgomp -lm -lpthread
PREFIX   ?= /usr/local
ABI      := 0
SOVERSION := 0.1.0

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The runtime: what predicting and explaining need, as docs/architecture.md draws libkeel (base,
# the data layer but schema inference and YAML, tensor, nn, eval, model, explain) and nothing of
# training's or the CLI's.
RT_SRC   := $(sort $(wildcard src/base/*.c) $(wildcard src/tensor/*.c) $(wildcard src/nn/*.c) \
            $(wildcard src/eval/*.c) $(wildcard src/model/*.c) $(wildcard src/explain/*.c) \
            $(filter-out src/data/infer.c src/data/schema_yaml.c,$(wildcard src/data/*.c)))
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/%.o)
PIC_OBJ  := $(RT_SRC:%.c=$(BUILD)/pic/%.o)
TOOL_SRC := $(sort $(wildcard tools/*.c))
# Every command's --help, compiled from docs/cli.md (tools/cli_help.h).
HELP_OBJ := $(BUILD)/gen/cli_help.o
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o) $(HELP_OBJ)
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
FUZZ_SRC := $(filter-out fuzz/replay.c,$(sort $(wildcard fuzz/*.c)))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/%.c=%)
REPLAY   := $(FUZZ_NAMES:%=$(BUILD)/replay-%)

.PHONY: all deps test demo fuzz bench format clean install install-lib
.SECONDARY:
all: $(BUILD)/keel $(BUILD)/libkeel.a $(BUILD)/libkeel.so $(BUILD)/keel.pc

deps:
	@scripts/deps.sh build

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/cli_help.c: docs/cli.md scripts/gen-cli-help.sh
	@mkdir -p $(dir $@)
	scripts/gen-cli-help.sh docs/cli.md > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/cli_help.o: $(BUILD)/gen/cli_help.c | deps
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# clang's UndefinedBehaviorSanitizer takes about five minutes on the AVX-512 kernels (hundreds
# of inlined intrinsics), so the fuzz build (clang) passes KERNEL_FLAGS=-fno-sanitize=undefined
# for that one file; AddressSanitizer stays on, and the gcc build with SANITIZE=1 checks it
# under both.
KERNEL_FLAGS ?=
$(BUILD)/src/tensor/kernels.o: CFLAGS += $(KERNEL_FLAGS)

# Position-independent objects for the shared library.
$(BUILD)/pic/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=default -c $< -o $@
$(BUILD)/pic/src/tensor/kernels.o: CFLAGS += $(KERNEL_FLAGS)

# Everything, for the CLI, the tests and the benchmarks.
$(BUILD)/keel_all.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libkeel: static and shared, exporting only what include/keel.h declares (src/libkeel.map).
$(BUILD)/libkeel.a: $(RT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libkeel.so.$(SOVERSION): $(PIC_OBJ) src/libkeel.map
	$(CC) $(LDSAN) -shared -Wl,-soname,libkeel.so.$(ABI) -Wl,--version-script=src/libkeel.map \
	  $(if $(LDSAN),,-Wl,--no-undefined) -o $@ $(PIC_OBJ) $(RT_LIBS)

$(BUILD)/libkeel.so: $(BUILD)/libkeel.so.$(SOVERSION)
	ln -sf libkeel.so.$(SOVERSION) $(BUILD)/libkeel.so.$(ABI)
	ln -sf libkeel.so.$(SOVERSION) $@

$(BUILD)/keel.pc: keel.pc.in Makefile
	@mkdir -p $(BUILD)
	sed -e 's|@VERSION@|$(SOVERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(RT_LIBS)|g' keel.pc.in > $@

install: install-lib $(BUILD)/keel
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/keel $(DESTDIR)$(PREFIX)/bin/keel

# libkeel alone (what an embedding program needs): library, header, pkg-config file.
install-lib: $(BUILD)/libkeel.a $(BUILD)/libkeel.so $(BUILD)/keel.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/keel.h $(DESTDIR)$(PREFIX)/include/keel.h
	install -m 644 $(BUILD)/libkeel.a $(DESTDIR)$(PREFIX)/lib/libkeel.a
	install -m 755 $(BUILD)/libkeel.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libkeel.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libkeel.so.$(ABI)
	ln -sf libkeel.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libkeel.so
	install -m 644 $(BUILD)/keel.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/keel.pc

$(BUILD)/keel: $(TOOL_OBJ) $(BUILD)/keel_all.a
	$(CC) $(LDSAN) -o $@ $(TOOL_OBJ) $(BUILD)/keel_all.a $(LDLIBS)

$(BUILD)/unit: $(UNIT_OBJ) $(BUILD)/keel_all.a
	$(CC) $(LDSAN) -o $@ $(UNIT_OBJ) $(BUILD)/keel_all.a $(LDLIBS)

# Each fuzz target also links with a small driver that replays its corpus, so `make test`
# runs every corpus file through the parser without needing libFuzzer.
$(BUILD)/replay-%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/replay.o $(BUILD)/keel_all.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

# Programs the end-to-end tests drive (tests/tools) and benchmark drivers (bench/*.c with a
# main of their own), linked against the library like any embedding program.
$(BUILD)/registry_stress: $(BUILD)/tests/tools/registry_stress.o $(BUILD)/keel_all.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/audit_bench: $(BUILD)/bench/audit_bench.o $(BUILD)/keel_all.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/serve_path: $(BUILD)/bench/serve_path.o $(BUILD)/keel_all.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

# The C API's latency, linked against libkeel.a as an embedding program would be.
$(BUILD)/api_latency: $(BUILD)/bench/api_latency.o $(BUILD)/libkeel.a
	$(CC) $(LDSAN) -o $@ $^ $(RT_LIBS)

test: all $(BUILD)/unit $(REPLAY) $(BUILD)/registry_stress
	@tests/run.sh $(BUILD)

demo: $(BUILD)/keel
	@scripts/demo.sh $(BUILD)/keel

# libFuzzer builds live in build-fuzz; corpora grow in fuzz/corpus-work, not in the tree.
fuzz:
	@scripts/deps.sh build fuzz
	@scripts/fuzz.sh $(FUZZ_SECONDS)

bench: $(BUILD)/keel $(BUILD)/audit_bench $(BUILD)/api_latency $(BUILD)/serve_path
	@scripts/deps.sh build bench
	@bench/run.sh $(BUILD)/keel

format:
	clang-format -i $(LIB_SRC) $(wildcard src/*/*.h) include/*.h $(TOOL_SRC) $(wildcard tools/*.h) \
	  $(UNIT_SRC) $(wildcard tests/unit/*.h) $(wildcard fuzz/*.c) $(wildcard fuzz/*.h) \
	  $(wildcard bench/*.c) $(wildcard bench/*.h) $(wildcard tests/tools/*.c)

clean:
	rm -rf build build-san build-fuzz

-include $(BUILD)/tests/tools/registry_stress.d $(BUILD)/bench/audit_bench.d $(BUILD)/bench/api_latency.d \
  $(BUILD)/bench/serve_path.d
-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(BUILD)/%.d) $(BUILD)/fuzz/replay.d
