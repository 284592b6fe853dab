# tessera: the commands a user and CI run.  `make test` is what .ci/run calls.
BUILD ?= build
ASAN_BUILD ?= build-asan
VENV ?= .venv
PY := $(VENV)/bin/python
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: gpu-deps all deps venv build test test-fast test-spark asan bench peers bench-peers bench-steps demo clean

all: build

# Installs the Debian packages a list names (one per line) that are not installed yet.
define install_debian
	@missing=$$(grep -v '^\s*#' $(1) | grep -v '^\s*$$' | while read -r p; do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	else echo "Debian packages of $(1): all present"; fi
endef

deps:
	$(call install_debian,deps/debian.txt)

# The Debian packages a GPU machine without a registry lacks, downloaded into .debs/ for the device
# call to carry (tools/gpu/run_cuda_tests.sh unpacks them into a prefix there).
gpu-deps:
	mkdir -p .debs && cd .debs && apt-get download $$(grep -v '^\s*#' ../deps/gpu-debian.txt | grep -v '^\s*$$')

# The Python environment: Debian's python3 (numpy and torch from apt) plus the PyPI pins.
venv: $(PY)
$(PY): python/requirements.txt | deps
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r python/requirements.txt
	touch $(PY)

$(BUILD)/build.ninja: | $(PY)
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$(abspath $(PY)) $(CMAKE_FLAGS)

build: deps venv $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of the library and its tests. The CUDA
# kernels are compiled once, by the release build; this one tests the host code (the emulated
# CUDA device included) under the sanitizers.
asan: deps venv
	[ -f $(ASAN_BUILD)/build.ninja ] || cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DTESSERA_SANITIZE=ON -DTESSERA_CUDA=OFF -DTESSERA_BUILD_BENCH=OFF -DTESSERA_PYTHON=OFF \
	  -DPython_EXECUTABLE=$(abspath $(PY)) \
	  $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

test: test-fast asan

# tessera.spark in Spark: a Java runtime (deps/spark-debian.txt) and PySpark
# (python/requirements-spark.txt, about 300 MB: not part of `make test`), then the Spark tests
# (local[2]) and the Spark example.
test-spark: build
	$(call install_debian,deps/spark-debian.txt)
	$(PY) -m pip install -q --disable-pip-version-check -r python/requirements-spark.txt
	PYTHONPATH=$(BUILD)/python $(PY) -m pytest -q python/tests_spark
	PYTHONPATH=$(BUILD)/python $(PY) examples/spark_data_parallel.py

bench: build
	/usr/bin/python3 bench/run_micro.py --tessera $(BUILD)/bench/tessera_micro

# The peer frameworks of the comparison (PyTorch 2.x, TensorFlow, JAX, MXNet, onnxruntime,
# OpenVINO), each in a virtual environment of its own under .peers/ (several GB; not needed to
# build or test tessera).
peers:
	bench/peers/install.sh

# The Rosetta workloads and small models in tessera and every installed peer, in one run.
bench-peers: build peers
	/usr/bin/python3 bench/rosetta_peers.py --threads 2 --markdown --json $(BUILD)/peers.json

# The small models step by step: tessera's session profile beside onnxruntime's node profile.
bench-steps: build peers
	/usr/bin/python3 bench/session_steps.py --threads 2 --markdown

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# The main job: the zoo's convnet on Fashion-MNIST for 3 epochs; prints the test accuracy, the
# training time and where the model, checkpoints and log were written.
demo: build
	./$(BUILD)/tools/tessera train
