# The two commands of the README, plus the pieces they are made of.
# Everything installs itself on a fresh Debian 12 machine (.ci/bootstrap.sh).
.PHONY: main test build build-fuzz unit fuzz pytest bench clean fresh-check

FUZZ_SECONDS ?= 10
PYTEST_ARGS ?=

main: build
	.venv/bin/python -m dask_native.seed --logs build/main-logs

test: build-fuzz
	.ci/check_layers.sh
	.ci/check_packages.sh
	.ci/check_format.sh
	ctest --test-dir build --output-on-failure -j2
	ctest --test-dir build-fuzz --output-on-failure -j2
	.ci/fuzz.sh $(FUZZ_SECONDS)
	# Everything, with the compatibility suite on the native scheduler + stock workers.
	.venv/bin/python -m pytest -q tests $(PYTEST_ARGS)
	# The compatibility suite again on the other clusters (tests/compat/compat_cluster.py):
	# fully native, the stock scheduler with native workers, and a mixed one.
	for c in native stock-scheduler mixed; do \
	  echo "== compat suite on the '$$c' cluster"; \
	  DN_COMPAT_CLUSTER=$$c .venv/bin/python -m pytest -q tests/compat $(PYTEST_ARGS) || exit 1; \
	done

build:
	.ci/bootstrap.sh

build-fuzz:
	.ci/bootstrap.sh --fuzz

fuzz: build-fuzz
	.ci/fuzz.sh $(FUZZ_SECONDS)

bench: build
	build/bench/dn-protocol-benchmark
	build/bench/dn-kernels-benchmark

# The README's two commands in a fresh Debian 12 chroot (root only; slow, not part of
# test). KEEP=1 keeps the root filesystem, SHARE_CCACHE=1 reuses the host's ccache.
fresh-check:
	.ci/fresh_check.sh

clean:
	rm -rf build build-fuzz
