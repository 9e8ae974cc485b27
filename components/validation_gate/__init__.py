"""Stops a run when ExampleValidator found anomalies, before Transform and Trainer."""
