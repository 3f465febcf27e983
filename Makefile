# xaid — build, test, demo, bench, install.
#
# Layout of outputs (all under $(BUILD), default build/):
#   $(BUILD)/rel/   optimized objects (-O2, PIC), libraries, xaid, xai, benches
#   $(BUILD)/san/   the same sources with AddressSanitizer + UBSan, for tests
# Sources are found by directory, so a new module file needs no Makefile edit:
#   daemon/<module>/*.c (not server/)  -> libxai
#   daemon/server/*.c + daemon/main.c  -> xaid
#   client/*.c                         -> libxaiclient
#   client/cli/*.c, client/audit/*.c   -> xai (the audit also links -ljansson -lcsv)
#   tests/*_test.cc                    -> one GoogleTest binary each
#   tests/*_test.c                     -> C programs that compile the API as C
#   bench/*.c                          -> one benchmark program each (make bench
#                                         also runs bench/audit_spam.py)
#   examples/*/*.c                     -> example programs (model servers, trainers)
# Several checkouts or agents can build side by side with BUILD=<dir>.

BUILD   ?= build
NPROC   := $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(NPROC)
PREFIX  ?= /usr/local
CC      ?= cc
CXX     ?= c++
PYTHON  ?= /usr/bin/python3

# pkg-config runs once, when a recipe first needs the flags (not when the
# Makefile is read), so a `make demo` that installs the packages first still
# finds them; demo and test also re-enter make after install-deps.
PKGS      := libzmq msgpack libpcre2-8 openblas lapacke libxxhash
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)

WARN     := -Wall -Wextra -Werror
CPPFLAGS = -Iinclude -Idaemon -D_GNU_SOURCE $(PKG_CFLAGS)
CFLAGS_COMMON := -std=c11 $(WARN) -g
REL_CFLAGS := $(CFLAGS_COMMON) -O2 -fPIC
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_CFLAGS := $(CFLAGS_COMMON) -O1 $(SAN_FLAGS)
CXXFLAGS_T := -std=c++17 -Wall -Wextra -Werror -g -O1 $(SAN_FLAGS)
LDLIBS     = $(PKG_LIBS) -lpthread -lm

LIB_SRC    := $(filter-out daemon/server/%,$(wildcard daemon/*/*.c))
SRV_SRC    := $(wildcard daemon/server/*.c) daemon/main.c
CLI_LIB_SRC:= $(wildcard client/*.c)
CLI_SRC    := $(wildcard client/cli/*.c) $(wildcard client/audit/*.c)
AUDIT_LIBS := -ljansson -lcsv
TEST_CC    := $(wildcard tests/*_test.cc)
TEST_C     := $(wildcard tests/*_test.c)
BENCH_SRC  := $(wildcard bench/*.c)
EXAMPLE_SRC:= $(wildcard examples/*/*.c)

obj = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

REL_LIB_OBJ := $(call obj,rel,$(LIB_SRC))
SAN_LIB_OBJ := $(call obj,san,$(LIB_SRC))
REL_SRV_OBJ := $(call obj,rel,$(SRV_SRC))
SAN_SRV_OBJ := $(call obj,san,$(SRV_SRC))
REL_CL_OBJ  := $(call obj,rel,$(CLI_LIB_SRC))
SAN_CL_OBJ  := $(call obj,san,$(CLI_LIB_SRC))
REL_CLI_OBJ := $(call obj,rel,$(CLI_SRC))
SAN_CLI_OBJ := $(call obj,san,$(CLI_SRC))

LIBXAI      := $(BUILD)/rel/libxai.a
LIBXAI_SAN  := $(BUILD)/san/libxai.a
LIBCL       := $(BUILD)/rel/libxaiclient.a
LIBCL_SO    := $(BUILD)/rel/libxaiclient.so
LIBCL_SAN   := $(BUILD)/san/libxaiclient.a
XAID        := $(BUILD)/rel/xaid
XAI         := $(BUILD)/rel/xai
XAID_SAN    := $(BUILD)/san/xaid
XAI_SAN     := $(BUILD)/san/xai
TEST_BINS   := $(patsubst tests/%.cc,$(BUILD)/san/tests/%,$(TEST_CC)) \
               $(patsubst tests/%.c,$(BUILD)/san/tests/%,$(TEST_C))
BENCH_BINS  := $(patsubst bench/%.c,$(BUILD)/rel/bench/%,$(BENCH_SRC))
EXAMPLE_BINS:= $(patsubst %.c,$(BUILD)/rel/%,$(EXAMPLE_SRC))
EXAMPLE_SAN := $(patsubst %.c,$(BUILD)/san/%,$(EXAMPLE_SRC))

.PHONY: all test test-build test-run demo demo-run bench install-deps install uninstall clean fuzz
.DELETE_ON_ERROR:

all: $(LIBXAI) $(LIBCL) $(LIBCL_SO) $(XAID) $(XAI) $(EXAMPLE_BINS) $(BENCH_BINS)

# ---- objects ---------------------------------------------------------------

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CPPFLAGS) $(REL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC [san] $<"
	@$(CC) $(CPPFLAGS) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- libraries and programs ------------------------------------------------

$(LIBXAI): $(REL_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBXAI_SAN): $(SAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBCL): $(REL_CL_OBJ)
	rm -f $@ && ar rcs $@ $^

$(LIBCL_SAN): $(SAN_CL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The shared client library is self-contained: client objects plus libxai.
$(LIBCL_SO): $(REL_CL_OBJ) $(REL_LIB_OBJ)
	$(CC) -shared -Wl,-soname,libxaiclient.so.0 -o $@ $^ $(LDLIBS)

$(XAID): $(REL_SRV_OBJ) $(LIBXAI)
	$(CC) -o $@ $(REL_SRV_OBJ) $(LIBXAI) $(LDLIBS)

$(XAID_SAN): $(SAN_SRV_OBJ) $(LIBXAI_SAN)
	$(CC) $(SAN_FLAGS) -o $@ $(SAN_SRV_OBJ) $(LIBXAI_SAN) $(LDLIBS)

$(XAI): $(REL_CLI_OBJ) $(LIBCL) $(LIBXAI)
	$(CC) -o $@ $(REL_CLI_OBJ) $(LIBCL) $(LIBXAI) $(AUDIT_LIBS) $(LDLIBS)

$(XAI_SAN): $(SAN_CLI_OBJ) $(LIBCL_SAN) $(LIBXAI_SAN)
	$(CC) $(SAN_FLAGS) -o $@ $(SAN_CLI_OBJ) $(LIBCL_SAN) $(LIBXAI_SAN) $(AUDIT_LIBS) $(LDLIBS)

$(BUILD)/rel/examples/%: examples/%.c $(LIBCL) $(LIBXAI)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ $< $(LIBCL) $(LIBXAI) $(LDLIBS)

$(BUILD)/san/examples/%: examples/%.c $(LIBCL_SAN) $(LIBXAI_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SAN_CFLAGS) -o $@ $< $(LIBCL_SAN) $(LIBXAI_SAN) $(LDLIBS)

$(BUILD)/rel/bench/%: bench/%.c $(LIBCL) $(LIBXAI)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -O3 -march=x86-64-v2 -o $@ $< $(LIBCL) $(LIBXAI) $(LDLIBS)

# ---- tests -----------------------------------------------------------------

$(BUILD)/san/tests/%: tests/%.cc $(LIBCL_SAN) $(LIBXAI_SAN) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS_T) -o $@ $< $(LIBCL_SAN) $(LIBXAI_SAN) \
	    -lgtest -lgtest_main $(LDLIBS)

# The audit's unit tests link the CLI's objects but its main().
AUDIT_TEST_OBJ = $(filter-out $(BUILD)/san/client/cli/main.o,$(SAN_CLI_OBJ))
$(BUILD)/san/tests/audit_test: tests/audit_test.cc $(AUDIT_TEST_OBJ) $(LIBCL_SAN) $(LIBXAI_SAN) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS_T) -Iclient -o $@ $< $(AUDIT_TEST_OBJ) $(LIBCL_SAN) $(LIBXAI_SAN) \
	    -lgtest -lgtest_main $(AUDIT_LIBS) $(LDLIBS)

$(BUILD)/san/tests/%: tests/%.c $(LIBCL_SAN) $(LIBXAI_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SAN_CFLAGS) -o $@ $< $(LIBCL_SAN) $(LIBXAI_SAN) $(LDLIBS)

test-build: $(TEST_BINS) $(XAID_SAN) $(XAI_SAN) $(EXAMPLE_SAN) $(XAID) $(XAI) $(EXAMPLE_BINS) \
            $(FUZZ_BINS)

# ---- fuzzing (libFuzzer, clang) --------------------------------------------
# tests/fuzz/fuzz_<name>.c are libFuzzer targets over the engine and the
# server's input path, built with clang and ASan+UBSan. `make fuzz
# FUZZ_SECONDS=N` runs each for N seconds from its committed seed corpus
# (tests/fuzz/corpus/<name>), keeping new inputs in $(BUILD)/fuzz/corpus;
# tests/run_all.sh runs each for a few seconds (a smoke run) as part of the
# tests. Crashes are written to $(BUILD)/fuzz/ as crash-* files. The
# library objects build without warnings here (-w): gcc's -Werror build is
# the warnings gate; the targets themselves keep -Wall -Wextra -Werror.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -std=c11 -g -O1 -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_OBJ     := $(call obj,fuzz,$(LIB_SRC) daemon/server/job_input.c daemon/server/config.c)

$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC [fuzz] $<"
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_FLAGS) -w -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_FLAGS) $(WARN) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

.SECONDARY: $(FUZZ_OBJ)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f | sed 's/^fuzz_//'); log=$(BUILD)/fuzz/$$n.log; \
	    mkdir -p $(BUILD)/fuzz/corpus/$$n; echo "fuzz $$n for $(FUZZ_SECONDS) s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 \
	        $(BUILD)/fuzz/corpus/$$n tests/fuzz/corpus/$$n > $$log 2>&1; rc=$$?; \
	    grep -E '^stat::number_of_executed_units' $$log; \
	    if [ $$rc -ne 0 ]; then tail -40 $$log; exit 1; fi; done

# Runs every test binary and the Python tests; the last line is
# "N passed, M failed". T=<pattern> runs only the binaries matching it.
# `make test` installs what is missing first, then builds in a fresh make
# (so the build cannot start before apt-get has finished); test-run skips
# the install step.
test: install-deps
	@$(MAKE) --no-print-directory test-run

test-run: test-build
	@BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/run_all.sh $(T)

# ---- demo, bench -----------------------------------------------------------

demo: install-deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@BUILD=$(BUILD) PYTHON=$(PYTHON) sh examples/demo.sh

bench: $(BENCH_BINS) $(XAID) $(XAI) $(EXAMPLE_BINS)
	@for b in $(BENCH_BINS); do BUILD=$(BUILD) $$b || exit 1; done
	@BUILD=$(BUILD) $(PYTHON) bench/multi_target_daemon.py
	@BUILD=$(BUILD) $(PYTHON) bench/audit_spam.py

# ---- dependencies ----------------------------------------------------------

DEB_PKGS := build-essential pkg-config ca-certificates libzmq3-dev libmsgpack-dev libpcre2-dev \
            libopenblas-dev liblapacke-dev libgtest-dev python3 python3-zmq \
            python3-msgpack python3-numpy python3-sklearn \
            libcurl4-openssl-dev libjansson-dev libcsv-dev libxxhash-dev \
            clang libclang-rt-14-dev chromium python3-distributed \
            python3-setuptools python3-mypy python3-venv python3-pip python3-pandas

# Installs only what is missing; npm is skipped when an npm command already
# exists (NodeSource's nodejs ships its own npm and conflicts with Debian's).
install-deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	    echo "install-deps: installing$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "install-deps: all present"; fi

# ---- install ---------------------------------------------------------------

# The installed headers are the public API's: what client.h, model_server.h,
# methods.h and nn.h need (rng.h is the engine's seeded generator, used by
# examples, benchmarks and tests inside this tree only). The programs link
# the static libraries, so they need no library path; programs built
# against libxaiclient.so find it through the rpath pkg-config's `xai` adds,
# and ldconfig runs after a real (not DESTDIR) install as root. `make
# uninstall` with the same PREFIX and DESTDIR removes exactly these files
# (the config only while it is still the installed default) and the
# directories install created, when empty.
SYSCONFDIR ?= /etc
PUBLIC_HEADERS := xai.h value.h text.h space.h eval.h result.h methods.h nn.h client.h model_server.h
MAN_PAGES  := man/xai.1 man/xaid.conf.5 man/xaid.8
XAI_VERSION = $(shell sed -n 's/.*XAI_VERSION_STRING "\(.*\)"/\1/p' include/xai/xai.h)
I_BIN  = $(DESTDIR)$(PREFIX)/bin
I_LIB  = $(DESTDIR)$(PREFIX)/lib
I_INC  = $(DESTDIR)$(PREFIX)/include/xai
I_MAN  = $(DESTDIR)$(PREFIX)/share/man
I_UNIT = $(DESTDIR)$(PREFIX)/lib/systemd/system
I_ETC  = $(DESTDIR)$(SYSCONFDIR)/xaid

install: $(XAID) $(XAI) $(LIBXAI) $(LIBCL) $(LIBCL_SO)
	install -d $(I_BIN) $(I_LIB)/pkgconfig $(I_INC) $(I_MAN)/man1 $(I_MAN)/man5 $(I_MAN)/man8 \
	    $(I_UNIT) $(I_ETC)
	install -m 755 $(XAID) $(XAI) $(I_BIN)/
	install -m 644 $(LIBXAI) $(LIBCL) $(I_LIB)/
	install -m 755 $(LIBCL_SO) $(I_LIB)/libxaiclient.so.0
	ln -sf libxaiclient.so.0 $(I_LIB)/libxaiclient.so
	install -m 644 $(addprefix include/xai/,$(PUBLIC_HEADERS)) $(I_INC)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(XAI_VERSION)|g' xai.pc.in > $(I_LIB)/pkgconfig/xai.pc
	install -m 644 man/xai.1 $(I_MAN)/man1/
	install -m 644 man/xaid.conf.5 $(I_MAN)/man5/
	install -m 644 man/xaid.8 $(I_MAN)/man8/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/xaid.service.in \
	    > $(I_UNIT)/xaid.service
	[ -e $(I_ETC)/xaid.conf ] || install -m 644 dist/xaid.conf $(I_ETC)/xaid.conf
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

uninstall:
	rm -f $(I_BIN)/xaid $(I_BIN)/xai $(I_LIB)/libxai.a $(I_LIB)/libxaiclient.a \
	    $(I_LIB)/libxaiclient.so.0 $(I_LIB)/libxaiclient.so $(I_LIB)/pkgconfig/xai.pc \
	    $(addprefix $(I_INC)/,$(PUBLIC_HEADERS)) $(I_MAN)/man1/xai.1 $(I_MAN)/man5/xaid.conf.5 \
	    $(I_MAN)/man8/xaid.8 $(I_UNIT)/xaid.service
	if cmp -s dist/xaid.conf $(I_ETC)/xaid.conf; then rm -f $(I_ETC)/xaid.conf; fi
	-rmdir $(I_INC) $(I_ETC) 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

clean:
	rm -rf $(BUILD)
