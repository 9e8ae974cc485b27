"""Typed pipeline configuration: ``schema`` (sections and help), ``loader`` (files, overrides,
typed values), ``checks`` (across keys), ``paths`` (derived locations)."""

from dlpipe.errors import ConfigError
from pipeline.config.loader import (
    apply_overrides,
    config_from_data,
    describe_schema,
    load_config,
    read_config_file,
)
from pipeline.config.schema import CONFIG_DIR, DEFAULT_CONFIG, PipelineConfig

__all__ = ["CONFIG_DIR", "DEFAULT_CONFIG", "ConfigError", "PipelineConfig", "apply_overrides",
           "config_from_data", "describe_schema", "load_config", "read_config_file"]
