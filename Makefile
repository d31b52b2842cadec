# qraft: GNU make, pkg-config. See README.md.
#
#   make            bin/qraftd, bin/qraft, lib/libqraft.{a,so}, lib/pkgconfig/qraft.pc
#   make test       every test (unit, integration), ends with "N passed, N failed"
#   make demo       a local 3-node cluster in 3 zones, and a failover shown
#   make sim SEEDS=N [FIRST=S]   the deterministic simulator on N seeds
#   make sim SEED=S              one seed, with its report (SIM_FLAGS=-v traces)
#   make bench [QUICK=1] [PEER=0]   benchmark a local 3-node cluster beside RabbitMQ (README "Benchmarks")
#   make chaos [CHAOS_FLAGS=...]   the chaos harness's default scenario (README "Chaos testing")
#   make deps       install missing Debian packages
#   make install PREFIX=/usr/local
#   SANITIZE=1      ASan + UBSan (objects go to build/san)

PREFIX ?= /usr/local
CC ?= cc
SANITIZE ?= 0

PKGS_NODE := raft libuv msgpack lmdb libcrypto libh2o jansson liblz4
PKGS_TEST := cmocka

# pkg-config runs only when a build needs it, so that `make deps` works on a
# machine with nothing installed.
pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs = $(shell pkg-config --libs $(1) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-missing-field-initializers \
        -Wno-format-truncation
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 -fPIC -I. $(WARN)
BASE_LDFLAGS :=

# A sanitized build keeps its programs apart (build/san/bin), so that bin/
# always holds the release build.
ifeq ($(SANITIZE),1)
BUILD := build/san
BINDIR := build/san/bin
BASE_CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
BASE_LDFLAGS += -fsanitize=address,undefined
else
BUILD := build/rel
BINDIR := bin
endif

CFLAGS_ALL = $(BASE_CFLAGS) $(call pc_cflags,$(PKGS_NODE)) $(CFLAGS)
# libraft is linked statically, with functions of its own wrapped: its log
# checksum (byteCrc32; raft/crc.c computes the same CRC eight bytes per
# step) and the io_destroy of a closed segment's AIO context
# (UvOsIoDestroy; raft/uvpatch.c makes it on a thread of its own, off the
# event loop).
RAFT_LIBS := -Wl,--wrap=byteCrc32 -Wl,--wrap=UvOsIoDestroy -Wl,-Bstatic -lraft -Wl,-Bdynamic
LDLIBS_NODE = $(RAFT_LIBS) $(call pc_libs,$(filter-out raft,$(PKGS_NODE))) -lpthread
LDLIBS_TEST = $(RAFT_LIBS) $(call pc_libs,$(filter-out raft,$(PKGS_NODE)) $(PKGS_TEST)) -lpthread

# client/cli.c and client/cli_*.c are the qraft CLI; every other client/*.c
# is libqraft.
CLI_SRC := $(wildcard client/cli.c client/cli_*.c)
CLIENT_SRC := $(filter-out $(CLI_SRC),$(wildcard client/*.c))
FSM_SRC := $(wildcard fsm/*.c)
RAFT_SRC := $(wildcard raft/*.c)
NODE_SRC := $(filter-out node/main.c,$(wildcard node/*.c node/http/*.c))
# The parts of node/http that need no server, for tests/unit/test_http_*.
HTTP_PURE_SRC := $(addprefix node/http/,buf.c errors.c query.c xml.c action.c sigv4.c attempt.c)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_LIB_SRC := $(filter-out $(INTEG_SRC),$(wildcard tests/integration/*.c))
JEPSEN_SRC := $(filter-out jepsen/main.c,$(wildcard jepsen/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

CLIENT_OBJ := $(call obj,$(CLIENT_SRC))
FSM_OBJ := $(call obj,$(FSM_SRC))
RAFT_OBJ := $(call obj,$(RAFT_SRC))
NODE_OBJ := $(call obj,$(NODE_SRC))
TESTLIB_OBJ := $(call obj,$(TESTLIB_SRC))
INTEG_LIB_OBJ := $(call obj,$(INTEG_LIB_SRC))
JEPSEN_OBJ := $(call obj,$(JEPSEN_SRC))
JEPSEN_BIN := $(if $(wildcard jepsen/main.c),$(BINDIR)/jepsen)

UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
INTEG_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEG_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
REPLAY_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/tests/replay_%,$(FUZZ_SRC))
SIM_SRC := $(wildcard tests/sim/*.c)
SIM_OBJ := $(call obj,$(SIM_SRC))
SIM_BIN := $(BUILD)/tests/simulator

.PHONY: all test unit integration demo deps clean install check-layers check-symbols fuzz sim bench chaos
ifeq ($(SANITIZE),1)
all: $(BINDIR)/qraftd $(BINDIR)/qraft $(JEPSEN_BIN)
else
all: $(BINDIR)/qraftd $(BINDIR)/qraft $(JEPSEN_BIN) lib/libqraft.a lib/libqraft.so lib/pkgconfig/qraft.pc
endif

deps:
	@scripts/install-deps

# libqraft is built with hidden visibility: only QRAFT_API symbols export.
$(CLIENT_OBJ): BASE_CFLAGS += -fvisibility=hidden

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libqraft.a: $(CLIENT_OBJ)
	@rm -f $@
	ar rcs $@ $^

lib/libqraft.a: $(BUILD)/libqraft.a
	@mkdir -p lib
	cp $< $@

lib/libqraft.so: $(CLIENT_OBJ)
	@mkdir -p lib
	$(CC) -shared -Wl,-soname,libqraft.so.0 $(BASE_LDFLAGS) -o $@ $^ \
	    $(call pc_libs,msgpack libcrypto)

# qraft.pc for a prefix, libdir and includedir.
pc_text = prefix=$(1)\nlibdir=$(2)\nincludedir=$(3)\n\nName: qraft\nDescription: client library of the qraft messaging cluster\nVersion: 0.1.0\nRequires.private: msgpack libcrypto\nLibs: -L$${libdir} -lqraft\nCflags: -I$${includedir}\n

# The in-tree qraft.pc points at this checkout, so that a program can build
# against libqraft without installing it.
lib/pkgconfig/qraft.pc: Makefile
	@mkdir -p lib/pkgconfig
	printf '$(call pc_text,$(CURDIR),$(CURDIR)/lib,$(CURDIR)/client)' > $@

$(BINDIR)/qraftd: $(BUILD)/node/main.o $(NODE_OBJ) $(RAFT_OBJ) $(FSM_OBJ) $(BUILD)/libqraft.a
	@mkdir -p $(BINDIR)
	$(CC) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_NODE)

$(BINDIR)/qraft: $(call obj,$(CLI_SRC)) $(BUILD)/libqraft.a
	@mkdir -p $(BINDIR)
	$(CC) $(BASE_LDFLAGS) -o $@ $^ $(call pc_libs,msgpack libcrypto)

# The chaos harness (jepsen/): a program on libqraft and libuv.
$(BINDIR)/jepsen: $(BUILD)/jepsen/main.o $(JEPSEN_OBJ) $(BUILD)/libqraft.a
	@mkdir -p $(BINDIR)
	$(CC) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_NODE) -lm

# Unit tests: tests/unit/test_fsm_*.c link the state machine alone (and
# tests/lib/, the fsm test helpers), tests/unit/test_client_*.c the client
# library alone. Integration tests
# link the client library and run bin/qraftd and bin/qraft as processes.
$(BUILD)/tests/test_fsm_%: tests/unit/test_fsm_%.c $(FSM_OBJ) $(TESTLIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

# tests/unit/test_raft_*.c: raft/'s pure parts (batch codec, glue) over the
# state machine.
$(BUILD)/tests/test_raft_%: tests/unit/test_raft_%.c $(RAFT_OBJ) $(FSM_OBJ) $(TESTLIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

$(BUILD)/tests/test_client_%: tests/unit/test_client_%.c $(BUILD)/libqraft.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

$(BUILD)/tests/test_http_%: tests/unit/test_http_%.c $(call obj,$(HTTP_PURE_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

# tests/unit/test_raft_*.c: raft/'s pure functions (linked with fsm/).
$(BUILD)/tests/test_raft_%: tests/unit/test_raft_%.c $(RAFT_OBJ) $(FSM_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

# tests/unit/test_node_*.c: qraftd's flag parsing alone.
$(BUILD)/tests/test_node_%: tests/unit/test_node_%.c $(call obj,node/config.c node/log.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

$(BUILD)/tests/test_jepsen_%: tests/unit/test_jepsen_%.c $(JEPSEN_OBJ) $(BUILD)/libqraft.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST) -lm

$(BUILD)/tests/%: tests/integration/%.c $(INTEG_LIB_OBJ) $(BUILD)/libqraft.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call pc_cflags,cmocka) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

# Fuzz targets replayed over their corpus and kept crashes (make test), or
# run under libFuzzer with clang (make fuzz FUZZ_SECONDS=N).
$(BUILD)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fsmhost.c $(FSM_OBJ) $(BUILD)/libqraft.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DFUZZ_NAME='"$*"' $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_TEST)

# The deterministic simulator (tests/sim): the real fsm and raft_fsm glue on
# libraft's fixture. `make test` runs its fixed batch (tests/sim/batch).
$(SIM_BIN): $(SIM_OBJ) $(FSM_OBJ) $(RAFT_OBJ) $(BUILD)/tests/lib/tmpdir.o
	@mkdir -p $(dir $@)
	$(CC) $(BASE_LDFLAGS) -o $@ $^ $(LDLIBS_NODE)

SEEDS ?= 100
sim: deps
	@$(MAKE) --no-print-directory $(SIM_BIN)
	@$(SIM_BIN) $(if $(SEED),--seed $(SEED),--seeds $(SEEDS) $(if $(FIRST),--first $(FIRST))) $(SIM_FLAGS)

FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
              $(call pc_cflags,$(PKGS_NODE))
fuzz:
	@scripts/install-deps --fuzz
	@mkdir -p build/fuzz
	@for t in $(FUZZ_NAMES); do \
	    clang $(FUZZ_CFLAGS) -o build/fuzz/$$t tests/fuzz/$$t.c tests/fuzz/fsmhost.c $(CLIENT_SRC) $(FSM_SRC) \
	        $(call pc_libs,$(PKGS_NODE)) || exit 1; \
	    mkdir -p build/fuzz/corpus/$$t tests/fuzz/crashes/$$t; \
	    echo "== $$t for $(FUZZ_SECONDS) s"; \
	    build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix=tests/fuzz/crashes/$$t/ build/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	        || exit 1; \
	done

# deps runs first, in its own step, so that a fresh machine has pkg-config
# and the libraries before any compile line is expanded.
unit: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@tests/run $(UNIT_BIN)

integration: deps
	@$(MAKE) --no-print-directory all $(INTEG_BIN)
	@QRAFTD=$(BINDIR)/qraftd LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    tests/run $(INTEG_BIN)

# The include graph follows the data flow: fsm/ includes nothing of ours,
# client/ nothing of ours, raft/ only fsm/. A reverse include fails the build.
check-layers:
	@! grep -nE '#include "(client|node|raft)/' fsm/*.c fsm/*.h || \
	    { echo "check-layers: fsm/ must not include client/, node/ or raft/"; exit 1; }
	@! grep -nE '#include "(fsm|node|raft)/' client/*.c client/*.h || \
	    { echo "check-layers: client/ must not include fsm/, node/ or raft/"; exit 1; }
	@! grep -nE '#include "(node|client)/' raft/*.c raft/*.h || \
	    { echo "check-layers: raft/ must not include node/ or client/"; exit 1; }
	@! grep -nE '#include "(fsm|node|raft)/' jepsen/*.c jepsen/*.h || \
	    { echo "check-layers: jepsen/ is a client: it may include client/ only"; exit 1; }
	@! grep -nE '#include <raft' fsm/*.c node/*.c client/*.c jepsen/*.c || \
	    { echo "check-layers: only raft/ includes raft.h"; exit 1; }

# qraftd links libqraft (the wire codec) beside fsm/, raft/ and node/: a
# global name defined on both sides would be resolved silently by the
# archive order. Fail instead.
check-symbols: $(CLIENT_OBJ) $(FSM_OBJ) $(RAFT_OBJ) $(NODE_OBJ)
	@nm -g --defined-only $(CLIENT_OBJ) | awk 'NF == 3 {print $$3}' | sort -u > $(BUILD)/client.syms
	@nm -g --defined-only $(FSM_OBJ) $(RAFT_OBJ) $(NODE_OBJ) | awk 'NF == 3 {print $$3}' | sort -u > $(BUILD)/node.syms
	@dup=$$(comm -12 $(BUILD)/client.syms $(BUILD)/node.syms); \
	if [ -n "$$dup" ]; then echo "check-symbols: defined in client/ and in fsm/raft/node: $$dup"; exit 1; fi

test: deps
	@$(MAKE) --no-print-directory check-layers check-symbols all $(UNIT_BIN) $(REPLAY_BIN) $(INTEG_BIN) $(SIM_BIN)
	@QRAFTD=$(BINDIR)/qraftd SIM=$(SIM_BIN) JEPSEN=$(BINDIR)/jepsen \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    tests/run $(UNIT_BIN) $(REPLAY_BIN) $(INTEG_BIN) tests/sim/batch tests/jepsen/short \
	    tests/aws/run

# The benchmark (tests/bench): optimised, never sanitized, never part of
# all or test. The cluster it runs is the release bin/qraftd. The peer
# (RabbitMQ quorum queues, tests/bench/rabbit) needs rabbitmq-server and
# librabbitmq-dev, which `scripts/install-deps --bench` installs; PEER=0
# skips it (and the install).
PEER ?= 1
BENCH_SRC := $(filter-out tests/bench/peer_rabbit.c,$(wildcard tests/bench/*.c))
BENCH_BIN := build/bench/bench
PEER_BIN := build/bench/peer_rabbit
$(BENCH_BIN): $(BENCH_SRC) $(wildcard tests/bench/*.h) build/rel/libqraft.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -I. $(WARN) -o $@ $(BENCH_SRC) build/rel/libqraft.a \
	    $(call pc_libs,msgpack libcrypto) -lpthread

$(PEER_BIN): tests/bench/peer_rabbit.c tests/bench/hist.c tests/bench/hist.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -I. $(WARN) -o $@ tests/bench/peer_rabbit.c \
	    tests/bench/hist.c $(call pc_cflags,librabbitmq) $(call pc_libs,librabbitmq) -lpthread

bench: deps
ifeq ($(PEER),0)
	@$(MAKE) --no-print-directory SANITIZE=0 all $(BENCH_BIN)
	@QUICK=$(QUICK) PEER=0 tests/bench/run $(BENCH_BIN)
else
	@scripts/install-deps --bench || echo "bench: the peer's packages could not be installed"
	@$(MAKE) --no-print-directory SANITIZE=0 all $(BENCH_BIN)
	@$(MAKE) --no-print-directory SANITIZE=0 $(PEER_BIN) || echo "bench: the peer's load generator did not build"
	@QUICK=$(QUICK) PEER=1 tests/bench/run $(BENCH_BIN) $(PEER_BIN)
endif

# The chaos harness's default scenario (README "Chaos testing"); flags in
# CHAOS_FLAGS, e.g. make chaos CHAOS_FLAGS="--workload fifo --duration 600".
chaos: deps
	@$(MAKE) --no-print-directory all
	@$(BINDIR)/jepsen --qraftd $(BINDIR)/qraftd $(CHAOS_FLAGS)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 bin/qraftd bin/qraft $(DESTDIR)$(PREFIX)/bin/
	install -m 644 lib/libqraft.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 lib/libqraft.so $(DESTDIR)$(PREFIX)/lib/libqraft.so.0
	ln -sf libqraft.so.0 $(DESTDIR)$(PREFIX)/lib/libqraft.so
	install -m 644 client/qraft.h $(DESTDIR)$(PREFIX)/include/
	printf '$(call pc_text,$(PREFIX),$${prefix}/lib,$${prefix}/include)' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/qraft.pc

clean:
	rm -rf build bin lib

-include $(shell find build -name '*.d' 2>/dev/null)
