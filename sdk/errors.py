"""One exception family for every Auricle package.

Messages name the file or value at fault and say what was expected, e.g.
``AudioError("clip.wav: file is empty (0 frames)")``.
"""


class AuricleError(Exception):
    """Base class of every error Auricle raises on purpose."""


class AudioError(AuricleError):
    """An audio file or block that cannot be read or used."""


class ModelError(AuricleError):
    """A model artifact that is truncated, corrupted or does not fit its metadata."""


class ConfigError(AuricleError, ValueError):
    """A parameter, recipe or option with a value outside what is accepted."""


class DeviceError(AuricleError):
    """An audio device that does not exist or refuses the requested settings."""


class LinkError(AuricleError):
    """A transport (serial link, MQTT broker, Wyoming client) that failed."""
