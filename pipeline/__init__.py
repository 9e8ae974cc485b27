"""dlpipe's pipeline package: typed config, the TFX pipeline factory, runners and the CLI."""
