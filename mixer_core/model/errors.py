"""The model package's error types: each message names the path or config key at fault."""


class ModelLoadError(FileNotFoundError):
    """A model component or saved model folder that cannot be loaded."""


class ModelConfigError(ValueError):
    """A model configuration that cannot build a working model."""
