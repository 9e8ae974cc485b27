"""InfraValidator: serves the candidate model in the embedded server and checks the answers."""
