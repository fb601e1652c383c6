# qvl - plain Makefile.
#   make            builds ./qvl (release, -O2)
#   make test       unit + golden + hostile-file + load tests, then all again under ASan/UBSan,
#                   then every fuzz target for 30 s (two at a time)
#   make test-load  20 clients for 2 minutes against qvl serve (test-soak: 30 minutes)
#   make bench      speed/memory benchmarks (bench/run.sh), JSON in bench/results/
#   make test-2b    full-size golden check (generates the 2b test model; slow, not in CI)
#   make test-integration  nginx + 2 replicas + a replica killed mid-run (also part of make test)
#   make install PREFIX=/usr/local [DESTDIR=...]   the binary (web page inside), man page, OCR
#                   rules, the systemd unit, example settings, the nginx config and cluster.sh
#
# Layout: every src/<module>/*.c except src/cli goes into libqvl.a; src/cli is
# the program. Files named *_avx2.c / *_avx512.c / *_avx512bf16.c get their ISA flags here and
# are only called after a CPUID check at run time.

CC      ?= cc
SAN     ?= 0
BUILD   ?= build/release
OPT     := -O2
PKGS    := jansson libutf8proc libmicrohttpd libjpeg libpng libwebp libheif libtiff-4 libgif nettle tesseract lept openblas \
           poppler-glib cairo
# -Wno-format-truncation: paths are built with snprintf into PATH_MAX-sized
# buffers; an over-long path then fails to open, with its (cut) name shown.
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter \
           -Wno-format-truncation -pthread -fno-math-errno -Isrc $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm -ldl -pthread

ifeq ($(SAN),1)
BUILD   := build/asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# `make fuzz` (see the end of this file) builds everything with clang + libFuzzer.
ifeq ($(FUZZ),1)
BUILD   := build/fuzz
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -Wno-unknown-warning-option
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVXVNNI_FLAGS := $(AVX2_FLAGS) -mavxvnni
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni
AVX512BF16_FLAGS := $(AVX512_FLAGS) -mavx512bf16

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
WEB_SRC  := $(sort $(wildcard web/*))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libqvl.a
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test test-run test-load test-soak test-2b test-integration bench clean install
all: qvl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avxvnni.o: %_avxvnni.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVXVNNI_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512bf16.o: %_avx512bf16.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512BF16_FLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The web page (web/*) is embedded into the binary as a generated C table.
WEB_OBJ  := $(BUILD)/web_assets_data.o
$(BUILD)/web_assets_data.c: $(WEB_SRC) tools/embed_web.sh
	@mkdir -p $(dir $@)
	tools/embed_web.sh $@ $(WEB_SRC)

$(WEB_OBJ): $(BUILD)/web_assets_data.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/qvl: $(CLI_OBJ) $(WEB_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(WEB_OBJ) $(LIB) $(LDLIBS)

qvl: $(BUILD)/qvl
	cp $< $@

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The allocation-failure test sees every allocation of the library through
# the linker's --wrap (tests/unit/fail_alloc.h); no other binary is wrapped.
FAIL_ALLOC_LDFLAGS := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup \
                      -Wl,--wrap=posix_memalign,--wrap=aligned_alloc
$(BUILD)/tests/test_alloc_failure: tests/unit/test_alloc_failure.c tests/unit/fail_alloc.c $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) $(FAIL_ALLOC_LDFLAGS) -o $@ $(filter %.c,$^) $(LIB) $(LDLIBS)

# Checks the layering of src/ (from this build's objects), runs every unit
# test binary of this build, then the script tests against its qvl binary,
# then the numeric tests again with every other kernel table the CPU runs.
# The bench driver is built too, so an API change cannot leave it broken.
test-run: $(UNIT_BIN) $(BUILD)/qvl $(BUILD)/bench
	@tests/check_layers.py $(BUILD)
	@QVL_BIN=$(BUILD)/qvl tests/run_all.sh $(UNIT_BIN)
	@QVL_BIN=$(BUILD)/qvl tests/load/run.sh 20 20
	@QVL_BIN=$(BUILD)/qvl tests/faults/run.sh $(BUILD)/faults.md
	@tests/run_tiers.sh $(BUILD) $(if $(filter 1,$(SAN)),--kernels-only)

# The integration test runs once, on the release build: it measures a
# cluster's behaviour, not memory errors (the unit and script tests did).
test: qvl
	$(MAKE) test-run
	$(MAKE) SAN=1 test-run
	$(MAKE) test-integration
	$(MAKE) fuzz FUZZ_SECONDS=30

# The load test at full length (make test runs 20 s of it), and the soak
# run that reports the RSS slope (not in CI).
LOAD_CLIENTS ?= 20
LOAD_SECONDS ?= 120
test-load: qvl
	QVL_BIN=$(BUILD)/qvl tests/load/run.sh $(LOAD_CLIENTS) $(LOAD_SECONDS)
test-soak: qvl
	QVL_BIN=$(BUILD)/qvl tests/load/run.sh 20 1800

test-integration: qvl
	@QVL_BIN=$(CURDIR)/$(BUILD)/qvl tests/run_all.sh --only tests/integration/test_install.sh \
	    tests/integration/test_cluster.sh

test-2b: qvl
	tests/golden/test_2b.sh

# The benchmark driver links the library like a test; bench/run.sh runs it.
$(BUILD)/bench: $(wildcard bench/*.c bench/*.h) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(LIB) $(LDLIBS)

bench: qvl $(BUILD)/bench
	BENCH_BIN=$(BUILD)/bench bench/run.sh

clean:
	rm -rf build qvl

# ---- install ----------------------------------------------------------------
# The OCR rules go where the binary looks for them (PREFIX/share/qvl, beside
# ../bin); the man page is made from the binary's own --help texts.
PREFIX  ?= /usr/local
DESTDIR ?=
SHARE   := $(DESTDIR)$(PREFIX)/share/qvl
$(BUILD)/qvl.1: $(BUILD)/qvl tools/make_man.sh
	tools/make_man.sh $(BUILD)/qvl $@

install: $(BUILD)/qvl $(BUILD)/qvl.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(SHARE)/deploy/nginx \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BUILD)/qvl $(DESTDIR)$(PREFIX)/bin/qvl
	install -m 644 $(BUILD)/qvl.1 $(DESTDIR)$(PREFIX)/share/man/man1/qvl.1
	install -m 644 data/ocr-rules.txt $(SHARE)/ocr-rules.txt
	install -m 644 deploy/qvl.conf.example $(SHARE)/qvl.conf.example
	install -m 644 deploy/nginx/qvl.conf deploy/nginx/qvl-proxy.conf $(SHARE)/deploy/nginx/
	install -m 755 scripts/cluster.sh $(SHARE)/deploy/cluster.sh
	sed 's|@PREFIX@|$(PREFIX)|g' deploy/qvl.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/qvl.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/qvl.service

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# Fuzzing: `make fuzz` builds the libFuzzer targets with clang into
# build/fuzz and runs each for FUZZ_SECONDS (default 60) from its seeds in
# tests/fuzz/corpus (tests/fuzz/run.sh); `make fuzz-build` only builds.
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-build
fuzz:
	$(MAKE) FUZZ=1 fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)
# Only the parsers of untrusted bytes are linked in (not the SIMD kernels).
FUZZ_LIBSRC := $(wildcard src/base/*.c src/format/*.c src/image/*.c) src/engine/dtype.c src/answer/grounding.c \
               $(wildcard src/tokenizer/*.c src/grammar/*.c)
# Compiled once into build/fuzz/src and linked into every target.
FUZZ_LIB_OBJ := $(FUZZ_LIBSRC:%.c=build/fuzz/%.o)
fuzz-build: $(FUZZ_BIN)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)
# The API request targets call the server's parse steps: the server's files
# and the parsers are built instrumented (into build/fuzz/src), and what they
# call beyond those (the scheduler's callees: generation, the model) comes
# uninstrumented from the release library, never run by these targets.
FUZZ_API_OBJ := $(patsubst %.c,build/fuzz/%.o,$(filter-out src/server/server.c src/server/web_assets.c,\
                  $(wildcard src/server/*.c src/service/*.c))) $(FUZZ_LIB_OBJ)
build/fuzz/fuzz_api_%: tests/fuzz/fuzz_api_%.c tests/fuzz/fuzz_util.h tests/fuzz/fuzz_server.h $(FUZZ_API_OBJ) \
                       build/release/libqvl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_API_OBJ) build/release/libqvl.a $(LDLIBS)
ifeq ($(FUZZ),1)
build/release/libqvl.a: FORCE
	$(MAKE) FUZZ= build/release/libqvl.a
.PHONY: FORCE
FORCE:
endif
