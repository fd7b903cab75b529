"""Measurements behind the sidecar's I/O design and the tree graphs' shape (moved
here from the docstrings of infer/transport.py, infer/scorer.py and train/onnx/fold.py,
which keep only the invariants)."""

from __future__ import annotations


def sidecar_io() -> list[str]:
    return [
        "### Why the sidecar's I/O is shaped this way",
        "",
        "Figures measured on the project's busy 2-core dev box while the code was written "
        "(not re-measured by this run):",
        "",
        "* `InferenceSession.run` re-validates its arguments on every call, about 5 µs, more "
        "than a 100-tree ensemble takes on one row: `infer/scorer.py` calls the C++ session "
        "directly, through an I/O binding for one row.",
        "* `os.read(fd, 256 KiB)` allocated (and often mmapped) 256 KiB per call, about 10 µs "
        "per request: reads land in one preallocated buffer. `poll(0)` costs under half of a "
        "read that finds nothing (about 0.5 against 1.3 µs), so the spin probes before it reads.",
        "* Spin 0, 50 and 200 µs gave the same p50 (`bench/sidecar_pipe.py`), hence the modest "
        "50 µs default. A spin that did not yield its CPU kept the Go client from running "
        "while another process held the other core: p50 ~47-52 µs, against ~21 µs with no spin "
        "and ~27 µs spinning with yields.",
        "* With one CPU-bound process beside the bot on 2 cores, a spinning sidecar whose "
        "yields went to that process took the Go predictor's p50 from ~9 µs to ~77 µs, against "
        "~15 µs with no spin at all: the sidecar stops spinning after repeated late yields.",
        "* A client that blocks in read(2) for every answer: its round trip depends "
        "on whether the kernel runs it and the sidecar on one core. On one core, ~12 µs with the "
        "sidecar spinning or blocking (Go echo: ~5.5 µs). On two, ~16 µs with the sidecar "
        "spinning, because the client's idle core halts and waking it costs ~8-10 µs on this "
        "VM; ~45-50 µs with the sidecar blocking too, two such wake-ups. The kernel keeps "
        "whichever placement it has chosen for many round trips, so the sidecar compares the "
        "two modes in runs of 16 reads (`infer/spin.py`). The sidecar's own CPU per request is "
        "~5.5 µs: onnxruntime ~1.6, byte matching, packing and encoding ~1.9, pipe I/O ~2.",
        "* Moving the sidecar onto its blocking client's CPU when its turnarounds showed two "
        "CPUs (a one-shot `sched_setaffinity` to the CPU `/proc` gives for the client's "
        "thread, then back to all CPUs) was tried and not kept. The client, woken by the "
        "sidecar's answer, often moved to the CPU the sidecar had just left, and the two "
        "swapped CPUs every few requests (5,000 moves in 14,000 requests, p50 59-109 µs "
        "against 61-89 µs without the move). In the runs where the pair did stay together "
        "(a 4 µs Python stand-in for the sidecar: 10.9-13 µs in most rounds, 1.8x the echo's "
        "6.1 µs), the echo, which the same client alternates with, was the one left on the "
        "other CPU (39-68 µs): the client shared a CPU with one of the two servers, rarely "
        "with both. The rounds' p50 ranges in the table above show which rounds were which.",
        "* How far the blocking-client rows measure placement rather than code: a "
        "byte-identical copy of `pipeecho` run in the sidecar's place against `pipeecho` "
        "(same blocking client, same alternating rounds) had rounds at ~6.5 µs and rounds at "
        "40-54 µs for either copy, and its p50 ratio to the original was 0.37x to 0.98x over "
        "five runs of 10,000 round trips.",
        "* The first version of that choice judged every read, and under 64 goroutines "
        "(batches of ~10 requests a read) it flipped to blocking on noise, cutting infer's "
        "throughput by ~25 %: only reads of a single request are judged now, and the sidecar "
        "always spins after a batch.",
        "",
        "### Why the tree graphs are shaped this way (`train/onnx/fold.py`)",
        "",
        "* Folding a sigmoid calibration into the trees removes the ~10 small calibrator "
        "nodes skl2onnx emits: about 2 µs of a ~6 µs single-record call.",
        "* Each ONNX node costs onnxruntime about 0.17 µs per call, which is why the graph ends "
        "in `[N, 1]` with no `Reshape` to `[N]`.",
        "* Rewriting the `TreeEnsembleClassifier` as a `TreeEnsembleRegressor` → `Sigmoid` "
        "saves about 0.3 µs per single record and about 45 % of a 64-record batch.",
        "",
    ]
