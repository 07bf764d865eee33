"""The error every file that wave_mm reads raises when it is refused."""


class TemplatesFileError(ValueError):
    """A templates, scalers or checkpoint file is missing, unsafe or
    malformed; the message names the file, the key and the fault."""
