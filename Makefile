# actr: one Makefile for the library, programs, examples, tests and
# benchmarks. `make V=1` prints full command lines; `make check SAN=1`
# builds with ASan+UBSan (in build-san/); `make check VALGRIND=1` runs the
# suite under valgrind. `make demo` and `make check` install missing system
# packages first (scripts/deps.sh).

VERSION_MAJOR := 0
VERSION := 0.1.0
PREFIX ?= /usr/local

ifeq ($(FUZZ),1)
B ?= build-fuzz
CC := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),1)
B ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
else
B ?= build
SANFLAGS :=
endif

# Library layers, in dependency order (DESIGN.md).
LIB_DIRS := core proto mailbox net ice sctp wire runtime

PKGS := sqlite3 libprotobuf-c openssl libsrtp2 nice glib-2.0 usrsctp libcares
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC ?= cc
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter
# The library exports only what include/actr/ marks ACTR_API (hidden by
# default, scripts/libactr.map names the version node); ACTR_INTERNAL lets
# the library, the server, tests and benchmarks use internal fast paths
# (the examples build as applications do, without it).
ALL_CFLAGS := -std=gnu11 -fPIC -pthread $(WARN) $(SANFLAGS) $(CFLAGS) \
	-fvisibility=hidden -DACTR_INTERNAL \
	-Iinclude -I. -I$(B)/gen $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := -pthread $(SANFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lm

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = printf '  %-7s %s\n' $(1) $(2);
endif

# ---- generated protobuf-c code -------------------------------------------
PROTOS := $(wildcard proto/*.proto)
# Well-known types imported by proto/actr.proto (libprotobuf-dev, /usr/include).
WKT_PROTOS := google/protobuf/timestamp.proto google/protobuf/descriptor.proto
PROTO_C := $(patsubst proto/%.proto,$(B)/gen/proto/%.pb-c.c,$(PROTOS)) \
	$(patsubst %.proto,$(B)/gen/%.pb-c.c,$(WKT_PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

$(B)/gen/proto/%.pb-c.c $(B)/gen/proto/%.pb-c.h: proto/%.proto $(PROTOS)
	@mkdir -p $(B)/gen
	$(Q)$(call say,PROTOC,$<)protoc-c --c_out=$(B)/gen -I. -I/usr/include $<

# The examples' schemas (not in the library): generated the same way and
# linked into the examples, tests and benchmarks.
EX_PROTOS := $(wildcard examples/*/*.proto)
EX_PROTO_C := $(patsubst %.proto,$(B)/gen/%.pb-c.c,$(EX_PROTOS))
EX_PROTO_H := $(EX_PROTO_C:.c=.h) \
	$(patsubst %.proto,$(B)/gen/%.actr.h,$(EX_PROTOS))
EX_PROTO_O := $(EX_PROTO_C:.c=.o)

$(B)/gen/examples/%.pb-c.c $(B)/gen/examples/%.pb-c.h: examples/%.proto
	@mkdir -p $(B)/gen
	$(Q)$(call say,PROTOC,$<)protoc-c --c_out=$(B)/gen -I. $<

# Typed actr stubs (tools/protoc-gen-actr): NAME.actr.h next to NAME.pb-c.h.
$(B)/gen/examples/%.actr.h: examples/%.proto tools/protoc-gen-actr
	@mkdir -p $(B)/gen
	$(Q)$(call say,PROTOC,$@)protoc --plugin=protoc-gen-actr=tools/protoc-gen-actr \
		--actr_out=$(B)/gen -I. $<

# Generated sources are kept (not deleted as intermediates).
.SECONDARY: $(PROTO_C) $(PROTO_H) $(EX_PROTO_C) $(EX_PROTO_H)

$(B)/gen/google/protobuf/%.pb-c.c $(B)/gen/google/protobuf/%.pb-c.h: /usr/include/google/protobuf/%.proto
	@mkdir -p $(B)/gen
	$(Q)$(call say,PROTOC,$<)protoc-c --c_out=$(B)/gen -I/usr/include google/protobuf/$*.proto

# ---- library ---------------------------------------------------------------
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(LIB_SRCS)) \
	$(patsubst %.c,%.o,$(PROTO_C))

LIBA := $(B)/libactr.a
LIBSO := $(B)/libactr.so.$(VERSION)
SONAME := libactr.so.$(VERSION_MAJOR)

$(B)/%.o: %.c | $(PROTO_H) $(EX_PROTO_H)
	@mkdir -p $(dir $@)
	$(Q)$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/gen/%.pb-c.o: $(B)/gen/%.pb-c.c | $(PROTO_H) $(EX_PROTO_H)
	$(Q)$(call say,CC,$<)$(CC) $(filter-out -Werror,$(ALL_CFLAGS)) -c $< -o $@

# The actr package's messages are public API (include/actr/proto.h): their
# generated code keeps default visibility.
$(B)/gen/proto/actr.pb-c.o: ALL_CFLAGS += -fvisibility=default

# The examples are applications: no internal fast paths.
$(B)/examples/%.o: ALL_CFLAGS := $(filter-out -DACTR_INTERNAL,$(ALL_CFLAGS))

$(LIBA): $(LIB_OBJS)
	$(Q)$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJS) scripts/libactr.map
	$(Q)$(call say,LD,$@)$(CC) -shared -Wl,-soname,$(SONAME) \
		-Wl,--version-script=scripts/libactr.map \
		$(ALL_LDFLAGS) -o $@ $(LIB_OBJS) $(LIBS)
	$(Q)ln -sf libactr.so.$(VERSION) $(B)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(B)/libactr.so

# libactr.pc for a given prefix: $(call write_pc,PREFIX,FILE)
write_pc = printf '%s\n' 'prefix=$(1)' \
	'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	'Name: actr' 'Description: Actor-RTC runtime in C' \
	'Version: $(VERSION)' \
	'Requires: libprotobuf-c' \
	'Libs: -L$${libdir} -lactr' \
	'Libs.private: $(PRIV_LIBS) -lm -pthread' \
	'Cflags: -I$${includedir}' > $(2)

# The private dependencies as plain -l flags, not Requires.private: that
# would put their include paths and defines (GLib's, usrsctp's -DINET) in
# every user's --cflags, and pull their private chains (-lunistring) into
# --static. Only protobuf-c is public (the generated headers include it).
PRIV_LIBS = $(shell pkg-config --libs $(filter-out libprotobuf-c,$(PKGS)) 2>/dev/null)

# Installed generated headers are reached as <actr/gen/...> only, so a
# user's own proto/, google/protobuf/ or package of the same name cannot
# collide with them: their includes are rewritten on install.
GEN_INC_SED = -e 's,^\#include "\(proto/[a-z_]*\.pb-c\.h\)",\#include <actr/gen/\1>,' \
	-e 's,^\#include "\(google/protobuf/[a-z_]*\.pb-c\.h\)",\#include <actr/gen/\1>,'

$(B)/libactr.pc: Makefile
	@mkdir -p $(B)
	$(Q)$(call say,GEN,$@)$(call write_pc,$(PREFIX),$@)

# ---- programs: server/ (actr-signal), tools/ (actr) -----------------------
# Every .c except main.c goes into a small archive that tests link too.
SERVER_SRCS := $(filter-out server/main.c,$(wildcard server/*.c))
SERVER_OBJS := $(patsubst %.c,$(B)/%.o,$(SERVER_SRCS))
SERVERA := $(B)/libactr-server.a
PROGS :=
ifneq ($(wildcard server/main.c),)
PROGS += $(B)/actr-signal
endif
ifneq ($(wildcard tools/main.c),)
PROGS += $(B)/actr
endif

$(SERVERA): $(SERVER_OBJS)
	$(Q)$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(B)/actr-signal: $(B)/server/main.o $(SERVERA) $(LIBA)
	$(Q)$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/actr: $(patsubst %.c,$(B)/%.o,$(wildcard tools/*.c)) $(LIBA)
	$(Q)$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# ---- examples: one program per examples/<name>/<prog>.c --------------------
EXAMPLE_SRCS := $(wildcard examples/*/*.c)
EXAMPLES := $(patsubst %.c,$(B)/%,$(EXAMPLE_SRCS))

$(EXAMPLES): $(B)/examples/%: $(B)/examples/%.o $(EX_PROTO_O) $(LIBA)
	$(Q)$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# ---- tests: every test/*.c in one runner -----------------------------------
TEST_SRCS := $(wildcard test/*.c)
TEST_OBJS := $(patsubst %.c,$(B)/%.o,$(TEST_SRCS))
TESTBIN := $(B)/test/actr-test

$(TESTBIN): $(TEST_OBJS) $(EX_PROTO_O) $(SERVERA) $(LIBA)
	$(Q)$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# ---- benchmarks: one program per bench/*.c ---------------------------------
BENCH_SRCS := $(wildcard bench/*.c)
BENCHES := $(patsubst %.c,$(B)/%,$(BENCH_SRCS))

$(BENCHES): $(B)/bench/%: $(B)/bench/%.o $(EX_PROTO_O) $(SERVERA) $(LIBA)
	$(Q)$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# the resilience benchmark drives the tests' impairment relay
$(B)/bench/resilience: $(B)/test/impair.o

# ---- fuzz targets: one libFuzzer program per test/fuzz/*.c (FUZZ=1) -------
FUZZ_SRCS := $(wildcard test/fuzz/*.c)
FUZZERS := $(patsubst test/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))

$(FUZZERS): $(B)/fuzz/%: $(B)/test/fuzz/%.o $(EX_PROTO_O) $(SERVERA) $(LIBA)
	@mkdir -p $(dir $@)
	$(Q)$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# ---- top-level targets -------------------------------------------------------
.PHONY: all lib deps check check-run check-interop check-browser abi-baseline demo demo-run \
	demo-web bench install clean format \
	fuzz fuzz-build bench-check bench-thresholds bench-readme

all: lib $(PROGS) $(EXAMPLES) $(TESTBIN) $(BENCHES)

lib: $(LIBA) $(LIBSO) $(B)/libactr.pc

deps:
	@sh scripts/deps.sh

# The deps script runs first, then a fresh make so pkg-config sees what it
# installed.
check: deps
	@$(MAKE) --no-print-directory check-run

ifeq ($(VALGRIND),1)
RUN_TESTS = ACTR_TEST_TIMEOUT_SCALE=20 valgrind -q --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	--error-exitcode=99 --suppressions=test/valgrind.supp $(TESTBIN)
else
RUN_TESTS = $(TESTBIN)
endif

# Interop with what nobody here wrote (test/interop/): proto/ against the
# Rust schema, the Rust actr runtime from npm. Not under valgrind (minutes of Node.js); with T=...
# only the unit tests run.
check-run: all
	@/usr/bin/python3 scripts/check_layers.py .
	@/usr/bin/python3 scripts/check_glib.py .
	@/usr/bin/python3 scripts/check_errors.py .
	@/usr/bin/python3 bench/test_check.py
	@/usr/bin/python3 scripts/check_abi.py $(LIBSO) $(B)/gen
	@/usr/bin/python3 scripts/check_readme.py README.md $(B) "$(CC)" "$(ALL_LDFLAGS) $(LIBS)"
	$(RUN_TESTS) $(T)
ifneq ($(VALGRIND),1)
	$(if $(T),,@$(MAKE) --no-print-directory check-interop)
	$(if $(T),,@$(MAKE) --no-print-directory check-browser)
endif
ifeq ($(SAN)$(VALGRIND)$(T),)
	@sh test/install/run.sh $(B)
endif

# Record the exported symbols as the ABI baseline (a deliberate change).
abi-baseline: lib
	@/usr/bin/python3 scripts/check_abi.py $(LIBSO) $(B)/gen --update

check-interop: all
	@sh test/interop/schema.sh
	@sh test/interop/rust.sh $(B)
	@sh test/interop/web.sh $(B)
	@sh test/interop/bench_peers.sh $(B)

# Real headless Chromium against web/actr.js, the demo page and the C
# programs (test/browser/run.sh; ~30 s).
check-browser: all
	@sh test/browser/run.sh $(B)

# The browser demo: actr-signal serving web/ and the C echo server; prints
# the URL and runs until Ctrl-C (ACTR_DEMO_SECONDS bounds it).
demo-web: all
	@sh scripts/demo_web.sh $(B)

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@sh scripts/demo.sh $(B)

# The suite (issue 18): every benchmark with quick presets, the report in
# bench/results/latest.{md,json}, the pictures; PERF=record keeps perf
# profiles. bench-check: the ratios against bench/thresholds.json.
bench: all
	@sh scripts/deps.sh bench
	@PERF=$(PERF) sh bench/run.sh $(B)

bench-check:
	@/usr/bin/python3 bench/check.py bench/results/latest.json bench/thresholds.json

bench-thresholds:
	@/usr/bin/python3 bench/check.py --update bench/results/latest.json bench/thresholds.json

bench-readme:
	@/usr/bin/python3 bench/readme_table.py bench/results/latest.json README.md

install: lib $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/actr \
		$(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libactr.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libactr.so
	$(call write_pc,$(PREFIX),$(DESTDIR)$(PREFIX)/lib/pkgconfig/libactr.pc)
	# public headers, and the generated protobuf-c headers they include
	install -d $(DESTDIR)$(PREFIX)/include/actr/gen/proto \
		$(DESTDIR)$(PREFIX)/include/actr/gen/google/protobuf
	for f in include/actr/*.h; do \
		sed $(GEN_INC_SED) $$f > $(DESTDIR)$(PREFIX)/include/actr/$${f##*/} || exit 1; done
	for f in $(B)/gen/proto/*.pb-c.h; do \
		sed $(GEN_INC_SED) $$f > $(DESTDIR)$(PREFIX)/include/actr/gen/proto/$${f##*/} || exit 1; done
	for f in $(B)/gen/google/protobuf/*.pb-c.h; do \
		sed $(GEN_INC_SED) $$f > $(DESTDIR)$(PREFIX)/include/actr/gen/google/protobuf/$${f##*/} || exit 1; done
	$(if $(PROGS),install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/)
	install -m 755 tools/protoc-gen-actr $(DESTDIR)$(PREFIX)/bin/
	# the wire schema, for (actr.payload_type) and the actr types
	install -d $(DESTDIR)$(PREFIX)/share/actr/proto
	install -m 644 proto/*.proto $(DESTDIR)$(PREFIX)/share/actr/proto/

# `make fuzz [FUZZ_SECONDS=60]`: build the libFuzzer targets with clang
# (ASan+UBSan) in build-fuzz/ and run each for FUZZ_SECONDS, starting from
# the committed seeds in test/fuzz/corpus/<target>/ (scripts/fuzz_seeds.py
# writes them); new inputs go to build-fuzz/fuzz/<target>.corpus. Crashes
# are left in build-fuzz/fuzz/crash-* and the run stops with an error.
FUZZ_SECONDS ?= 30
fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@for f in $(patsubst test/fuzz/%.c,build-fuzz/fuzz/%,$(FUZZ_SRCS)); do \
		echo "== $$f ($(FUZZ_SECONDS) s)"; \
		mkdir -p $$f.corpus; \
		seeds=test/fuzz/corpus/$${f##*/}; \
		[ -d $$seeds ] && seeds=../../$$seeds || seeds=; \
		(cd build-fuzz/fuzz && ../../$$f -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 ../../$$f.corpus $$seeds \
			> ../../$$f.log 2>&1); \
		rc=$$?; tail -4 $$f.log; \
		[ $$rc -eq 0 ] || { echo "$$f failed: see $$f.log"; exit 1; }; \
	done

fuzz-build: $(FUZZERS)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
