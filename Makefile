# sluice: plain Makefile over pkg-config. `make help` lists the targets.

CC       ?= cc
BUILD    ?= build/default
SANITIZER ?=
PKGS     := libcurl libgit2 yaml-0.1 jansson libmicrohttpd
# libcurl and libmicrohttpd are slim static builds and libgit2 Debian's static
# one, from scripts/build-libs once there (their own .pc files, found first),
# else Debian's shared ones; `make` builds them when missing
SLIM_PC  := $(shell scripts/build-libs --pc-dir 2>/dev/null)
SLIM_A   := $(foreach d,$(subst :, ,$(SLIM_PC)),$(wildcard $(d)/*.pc $(d)/../*.a))
PKG_CONFIG_ENV := $(if $(SLIM_PC),PKG_CONFIG_PATH=$(SLIM_PC)$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)))
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wwrite-strings
ifeq ($(CI),true)
WARN += -Werror
endif

PKG_CFLAGS = $(shell $(PKG_CONFIG_ENV) pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG_ENV) pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

SAN_FLAGS := $(if $(SANITIZER),-fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all,)
OPT ?= -O2
CFLAGS  ?= -g $(OPT)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) -Iinclude $(PKG_CFLAGS) \
             -DSLUICE_VERSION='"$(VERSION)"' -DSLUICE_GIT_REV='"$(GIT_REV)"'
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)
LIBS = $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libsluice.a
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := tests/unit/support.c
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BUILD := build/fuzz
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
C_FILES  := $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src cmd include tests -name '*.[ch]')

.PHONY: all slim-libs help deps test unit check demo e2e fuzz fuzz-run bench image format format-check clean install man

ifeq ($(words $(subst :, ,$(SLIM_PC))),3)
all: bin/sluice bin/sluiced $(BUILD)/examples/demoapp
else
all: slim-libs
	@$(MAKE) --no-print-directory bin/sluice bin/sluiced $(BUILD)/examples/demoapp
endif

slim-libs:
	@scripts/build-libs >/dev/null || echo "make: scripts/build-libs failed; linking Debian's shared libcurl, libmicrohttpd, libgit2" >&2

help:
	@echo "make            build bin/sluice and bin/sluiced"
	@echo "make test       install what is missing (as root), then run every test under ASan+UBSan"
	@echo "make demo       install what is missing (as root), then run the demo"
	@echo "make e2e        the end-to-end suite alone (part of make test)"
	@echo "make fuzz       build the libFuzzer targets (clang) into $(FUZZ_BUILD)/"
	@echo "make fuzz-run   run each fuzz target for FUZZ_SECONDS (default 60)"
	@echo "make bench      speed and memory figures beside kubectl's"
	@echo "make format     clang-format every C file; make format-check only checks"
	@echo "make man        docs/sluice.1, docs/sluiced.8 and the --help texts from docs/man/"
	@echo "make image      an OCI image of sluiced, no Docker daemon (as root; docs/image.md)"

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/cmd/%.o $(LIB) $(SLIM_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

bin/%: $(BUILD)/bin/%
	@mkdir -p bin
	cp $< $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/support.o $(LIB) $(SLIM_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/tests/unit/support.o $(LIB) $(LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/kubelet-standin: $(BUILD)/tests/sandbox/standin.o $(LIB) $(SLIM_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

# The demo's web service (examples/demoapp/): one file on libmicrohttpd alone,
# compiled straight to $(BUILD)/examples/demoapp, which the kubelet stand-in's
# process mode runs for each demo pod.
$(BUILD)/examples/demoapp: examples/demoapp/demoapp.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(shell pkg-config --libs libmicrohttpd) -lpthread -lm

# sluice(1), sluiced(8) and every --help text come from one source per
# program, docs/man/PROG.txt, through tools/mkman.c. The outputs are committed
# (`man ./docs/sluice.1` works in a fresh clone) and made again whenever their
# source or the generator changes; tests/cli/test_cli_help.sh fails when a
# committed output is not what its source gives.
MKMAN := $(BUILD)/tools/mkman

$(MKMAN): tools/mkman.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O1 -o $@ $<

docs/sluice.1 src/cli/help_sluice.c &: docs/man/sluice.txt tools/mkman.c | $(MKMAN)
	$(MKMAN) docs/man/sluice.txt docs/sluice.1 src/cli/help_sluice.c cli_help_sluice

docs/sluiced.8 src/cli/help_sluiced.c &: docs/man/sluiced.txt tools/mkman.c | $(MKMAN)
	$(MKMAN) docs/man/sluiced.txt docs/sluiced.8 src/cli/help_sluiced.c cli_help_sluiced

man: docs/sluice.1 docs/sluiced.8

deps:
	@scripts/deps.sh

# Every test, under AddressSanitizer and UndefinedBehaviorSanitizer.
# The plain build is measured too (time and memory limits need it unsanitized).
test: deps
	@scripts/build-libs >/dev/null
	@$(MAKE) --no-print-directory BUILD=build/default build/default/bin/sluice
	@$(MAKE) --no-print-directory BUILD=build/san SANITIZER=address,undefined check

# the shell tests check runs (the cmocka ones are TEST_BIN)
SHELL_TESTS ?= tests/cli/test_*.sh tests/e2e/test_*.sh
check: $(TEST_BIN) $(BUILD)/bin/sluice $(BUILD)/bin/sluiced $(BUILD)/tests/kubelet-standin \
       $(BUILD)/examples/demoapp
	@BUILD=$(BUILD) PLAIN=build/default SANDBOX_STANDIN=$(CURDIR)/$(BUILD)/tests/kubelet-standin \
	    SLUICE_SANDBOX_DIR=$(CURDIR)/$(BUILD)/sandbox SHELL_TESTS='$(SHELL_TESTS)' \
	    ASAN_OPTIONS=detect_leaks=1 tests/run.sh $(TEST_BIN)

# The end-to-end suite alone (tests/e2e/, also part of make test): the whole
# pipeline with real requests through nginx and real Prometheus analysis.
e2e: deps
	@$(MAKE) --no-print-directory BUILD=build/default build/default/bin/sluice build/default/examples/demoapp
	@$(MAKE) --no-print-directory BUILD=build/san SANITIZER=address,undefined \
	    TEST_BIN= SHELL_TESTS='tests/e2e/test_*.sh' check

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
	    $(PKG_CFLAGS) -o $@ $< $(LIB_SRC) $(LIBS)

fuzz: $(FUZZ_BIN)

FUZZ_SECONDS ?= 60
fuzz-run: fuzz
	@mkdir -p $(FUZZ_BUILD)/seeds
	@for c in tests/data/yaml/*/input.yaml; do cp $$c $(FUZZ_BUILD)/seeds/$$(basename $$(dirname $$c)); done
	@for f in $(FUZZ_BIN); do \
	    n=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
	        -dict=tests/fuzz/yaml.dict $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/seeds || exit 1; \
	done

$(BUILD)/bench/apply: $(BUILD)/bench/apply.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(BUILD)/bench/judge: $(BUILD)/bench/judge.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

bench: deps all $(BUILD)/bench/apply $(BUILD)/bench/judge $(BUILD)/tests/kubelet-standin
	@BENCH_APPLY=$(CURDIR)/$(BUILD)/bench/apply BENCH_JUDGE=$(CURDIR)/$(BUILD)/bench/judge bench/run.sh

# An OCI image of sluiced made without a Docker daemon: the binary and the
# libraries it loads, packed by umoci (docs/image.md). IMAGE_BUILD: the plain build.
image:
	@IMAGE_BUILD=$(if $(SANITIZER),build/default,$(BUILD)) scripts/image.sh

format:
	clang-format -i $(C_FILES)

format-check:
	@clang-format --dry-run -Werror $(C_FILES) && echo "format: ok"

install: all
	install -d $(DESTDIR)/usr/local/bin $(DESTDIR)/usr/local/share/man/man1 $(DESTDIR)/usr/local/share/man/man8
	install -m 755 bin/sluice bin/sluiced $(DESTDIR)/usr/local/bin/
	install -m 644 docs/sluice.1 $(DESTDIR)/usr/local/share/man/man1/
	install -m 644 docs/sluiced.8 $(DESTDIR)/usr/local/share/man/man8/
	ln -sf sluice $(DESTDIR)/usr/local/bin/kubectl-sluice
	ln -sf sluice $(DESTDIR)/usr/local/bin/kubectl_complete-sluice
	install -d $(DESTDIR)/usr/local/share/bash-completion/completions
	bin/sluice completion bash >$(DESTDIR)/usr/local/share/bash-completion/completions/sluice

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

.SECONDARY:
