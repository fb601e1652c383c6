# qvl - plain Makefile.
#   make            builds ./qvl (release, -O2)
#   make test       unit + golden + hostile-file tests, then all again under ASan/UBSan
#   make bench      speed/memory benchmarks (bench/run.sh), JSON in bench/results/
#   make test-2b    full-size golden check (generates the 2b test model; slow, not in CI)
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

.PHONY: all test test-run test-2b bench clean
all: qvl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

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
	@tests/run_tiers.sh $(BUILD)

test: qvl
	$(MAKE) test-run
	$(MAKE) SAN=1 test-run

test-2b: qvl
	tests/golden/test_2b.sh

# The benchmark driver links the library like a test; bench/run.sh runs it.
$(BUILD)/bench: $(wildcard bench/*.c bench/*.h) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(LIB) $(LDLIBS)

bench: qvl $(BUILD)/bench
	BENCH_BIN=$(BUILD)/bench bench/run.sh

clean:
	rm -rf build qvl

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# Fuzzing (not part of `make test`): `make fuzz` builds libFuzzer targets with
# clang into build/fuzz; run e.g. build/fuzz/fuzz_gguf -max_total_time=60.
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-build
fuzz:
	$(MAKE) FUZZ=1 fuzz-build
# Only the parsers of untrusted bytes are linked in (not the SIMD kernels).
FUZZ_LIBSRC := $(wildcard src/base/*.c src/format/*.c src/image/*.c) src/engine/dtype.c \
               $(wildcard src/tokenizer/*.c)
fuzz-build: $(FUZZ_BIN)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_LIBSRC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_LIBSRC) $(LDLIBS)
