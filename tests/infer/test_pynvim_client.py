"""A standard msgpack-rpc client reads the sidecar's errors: pynvim, unmodified.

pynvim's Session hands a response's error element to `error_wrapper`; its
Nvim class (neovim's convention) reads element 1 as the message, which a map
would fail with KeyError. The sidecar's [code, message, details?] gives it
the message and leaves the code and details to whoever reads element 0 and 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infer.protocol import RPCError
from tests.infer.sidecar import ROOT, python

pynvim = pytest.importorskip("pynvim")


def test_pynvim_session_gets_our_error_then_a_result(model_a: Path) -> None:
    from pynvim.api.common import NvimError, decode_if_bytes

    os.environ.setdefault("PYTHONPATH", str(ROOT))
    session = pynvim.msgpack_rpc.child_session(
        [python(), "-m", "infer", "--model", str(model_a), "--log-level", "error"]
    )
    try:
        # Nvim.from_session's own wrapper: element 1 is the message.
        session.error_wrapper = lambda e: NvimError(decode_if_bytes(e[1]))
        with pytest.raises(NvimError, match="record 0: field 'depth_ratio' is nan"):
            session.request("predict", [[0.1, float("nan"), 0.3]])
        # The whole error element reaches the wrapper: code and details too.
        session.error_wrapper = RPCError.from_wire
        with pytest.raises(RPCError) as caught:
            session.request("predict", [[0.1, 0.2]])
        err = caught.value
        assert (err.code, err.record, err.field) == ("bad_features", 0, None)
        assert "expected 3 numbers" in err.message
        with pytest.raises(RPCError) as caught:
            session.request("predikt")
        assert caught.value.code == "unknown_method"
        # The same session goes on serving.
        result = session.request("predict", [[0.1, 0.2, 0.3]])
        assert len(result["p"]) == 1 and 0.0 <= result["p"][0] <= 1.0
        assert session.request("info")["protocol"] == 2
    finally:
        session.close()
