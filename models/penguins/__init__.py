"""The Palmer penguins tabular task: species from body measurements, island and sex."""
