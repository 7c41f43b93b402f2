# The two commands of the README, and a few conveniences.
.PHONY: run test bench soak build clean-state

## Build and run the whole system locally (Postgres, 2 Redis, dev Kafka broker, all services).
run:
	@bash scripts/run.sh

## Start the test infrastructure on free ports and run every test.
test:
	@bash scripts/test.sh

## Release build, the stack on its own ports, measurements next to nginx and pgbench (not a test).
bench:
	@bash scripts/bench.sh

## The stack of `make bench` under 10 minutes of mixed traffic: memory over time and any 5xx
## (BENCH_SOAK_SECONDS sets the length; not a test).
soak:
	@BENCH_ONLY=soak bash scripts/bench.sh

## Build the debug executables.
build:
	swift build

## Remove the local Postgres cluster, Redis data and logs of `make run`.
clean-state:
	rm -rf .local
