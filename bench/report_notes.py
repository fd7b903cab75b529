"""Why the sidecar's I/O and the tree graphs are shaped as they are (moved here
from the docstrings of infer/transport.py, infer/scorer.py and train/onnx/fold.py,
which keep only the invariants). Every figure on the page comes from
results.json, so these notes give reasons and point at the rows that measure
them, with no numbers of their own."""

from __future__ import annotations


def sidecar_io() -> list[str]:
    return [
        "### Why the sidecar's I/O is shaped this way",
        "",
        "Findings from experiments made while the code was written; this run does not repeat "
        "them, so they carry no figures. The rows above that measure their outcome are named.",
        "",
        "* `InferenceSession.run` re-validates its arguments on every call, which costs more "
        "than a 100-tree ensemble takes to score one row: `infer/scorer.py` calls the C++ "
        "session directly, through an I/O binding for one row.",
        "* `os.read(fd, 256 KiB)` allocated (and often mmapped) a fresh buffer per call: reads "
        "land in one preallocated buffer. `poll(0)` is cheaper than a read that finds nothing, "
        "so the spin probes before it reads.",
        "* Short and long spins gave the same p50 (the spin rows of `bench/sidecar_pipe.py` "
        "above), hence a modest default. A spin that did not yield its CPU kept the Go client "
        "from running while another process held the other core, several times slower than "
        "no spin at all: the spin yields between probes.",
        "* Under 64 goroutines the predictor's next request often comes more than 50 µs after "
        "the sidecar's answer, so the sidecar sleeps between batches and pays a wake-up per "
        "batch. A 500 µs spin (`--spin-us 500`) kept it running and scored somewhat more "
        "decisions per second in alternating runs, but it would spin ten times as long after "
        "every isolated request, the bot's usual traffic: the default stays modest, and a bot "
        "that runs at high rates on a machine of its own may pass the longer spin (`Config.Args`).",
        "* With one CPU-bound process beside the bot on two cores, a spinning sidecar whose "
        "yields went to that process made the Go predictor's p50 several times worse than no "
        "spin at all: the sidecar stops spinning after repeated late yields (the busy-host "
        "rows above).",
        "* A client that blocks in read(2) for every answer: its round trip depends on whether "
        "the kernel runs it and the sidecar on one core. On two cores the client's idle core "
        "halts, and waking it costs more than the request itself; with the sidecar blocking "
        "too, the round trip pays two such wake-ups. The kernel keeps whichever placement it "
        "has chosen for many round trips, so the sidecar compares the two modes in runs of "
        "reads (`infer/spin.py`); the blocking-client rows above, with their per-round p50s, "
        "show both placements.",
        "* Moving the sidecar onto its blocking client's CPU when its turnarounds showed two "
        "CPUs (a one-shot `sched_setaffinity`) was tried and not kept: the client, woken by "
        "the sidecar's answer, often moved to the CPU the sidecar had just left, and the two "
        "kept swapping CPUs, with no gain in p50.",
        "* How far the blocking-client rows measure placement rather than code: a "
        "byte-identical copy of `pipeecho` run in the sidecar's place against `pipeecho` "
        "(same blocking client, same alternating rounds) had fast rounds and slow rounds for "
        "either copy, and its p50 ratio to the original varied widely from run to run.",
        "* The first version of that choice judged every read, and under 64 goroutines "
        "(several requests per read) it flipped to blocking on noise and cost infer a large "
        "share of its throughput: only reads of a single request are judged now, and the "
        "sidecar always spins after a batch.",
        "",
        "### Why the tree graphs are shaped this way (`train/onnx/fold.py`)",
        "",
        "* Folding a sigmoid calibration into the trees removes the small calibrator nodes "
        "skl2onnx emits, a sizeable share of a single-record call.",
        "* Each ONNX node costs onnxruntime a fixed overhead per call, which is why the graph "
        "ends in `[N, 1]` with no `Reshape` to `[N]`.",
        "* Rewriting the `TreeEnsembleClassifier` as a `TreeEnsembleRegressor` → `Sigmoid` "
        "saves time on single records and much of a 64-record batch.",
        "",
    ]
