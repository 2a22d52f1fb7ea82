"""The dataset configs' names, importable without ``datasets`` (command-line help, export checks)."""

CONFIG_NAMES: tuple[str, str, str] = ("mapping", "timeseries", "cd_pairs")
