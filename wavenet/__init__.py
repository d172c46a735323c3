"""The `wavenet` command: one face over the core, the training wing and the service."""
