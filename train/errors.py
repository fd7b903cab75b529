"""The failures the CLI maps to exit codes (kept import-light)."""


class InputError(Exception):
    """Bad input data or arguments: exit code 2."""


class GateFailedError(Exception):
    """A quality gate failed and nothing was published: exit code 1."""


class ExportError(Exception):
    """The model could not be converted to a valid ONNX graph: exit code 1."""
