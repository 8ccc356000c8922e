# The two commands: `make run` and `make test`. Both install what is missing
# (scripts/deps.sh), build, and do their job. See README.md.

BUILD      ?= build
ASAN_BUILD ?= build-asan

.PHONY: all build run test test-images test-cluster cluster cluster-stop bench bench-cluster \
        backup restore fuzz deps clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release -Db_ndebug=false >/dev/null
	@ninja -C $(BUILD) >/dev/null

run: build
	@bash scripts/run.sh

# make test also runs make test-cluster's test (scripts/test.sh's "cluster"
# section), so it installs the cluster's packages too.
test:
	@bash scripts/deps.sh --cluster
	@bash scripts/test.sh

# The container images built and the compose stack run with podman, a
# payment settled through it (tests/containers/test_images.sh; as root).
# Not part of make test, which runs its static half
# (tests/integration/test_images_static.py).
test-images:
	@bash tests/containers/test_images.sh

# FinSys as a highly available cluster on loopback (scripts/cluster.sh):
# etcd, Patroni with two PostgreSQL, three NATS, two servers and two workers
# behind HAProxy; data under ./var/cluster. Its packages (haproxy, patroni,
# etcd) are installed here and by make test, not by make run.
cluster: build
	@bash scripts/deps.sh --cluster
	@bash scripts/cluster.sh

cluster-stop:
	@bash scripts/cluster.sh stop

# Payments through the cluster's HAProxy, settled, and the faults
# (tests/cluster); make test runs it too (scripts/test.sh's "cluster").
test-cluster: build
	@bash scripts/deps.sh --cluster
	@bash tests/cluster/test_cluster.sh faults

bench: build
	@bash scripts/bench.sh

# The cluster's payments/s through HAProxy against one server's, on the same
# cluster (bench/cluster.sh: a cluster of its own, 30 s a side; results in
# bench/results/cluster.json).
bench-cluster: build
	@bash scripts/deps.sh --cluster
	@bash bench/cluster.sh

# A base backup of make cluster's primary with pgBackRest (its WAL is
# archived all along), and a restore to a point in time into a new data
# directory, started on a free port: make restore TIME='2026-12-06 07:00:00+00'
# (scripts/backup.sh; docs/operations.md, "Backups and restore").
backup:
	@bash scripts/backup.sh backup $(TYPE)

restore:
	@[ -n "$(TIME)" ] || { echo "make restore TIME='YYYY-MM-DD HH:MM:SS+00' [DIR=...]" >&2; exit 2; }
	@bash scripts/backup.sh restore "$(TIME)" $(DIR)

fuzz: deps
	@bash scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
