"""SchemaCurator: the inferred schema, curated for the task (see ``curate``)."""
