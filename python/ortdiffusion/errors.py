"""The package's exceptions. All derive from :class:`OrtDiffusionError`, itself a ``ValueError``.

They are defined once in the native module (so C++ errors arrive as these classes) and re-exported here.
"""

from ortdiffusion._native import ArgumentError, ConfigError, ExternalDataError, FormatError, OrtDiffusionError

__all__ = ["ArgumentError", "ConfigError", "ExternalDataError", "FormatError", "OrtDiffusionError"]
