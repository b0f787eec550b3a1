"""The runtime process: configuration, composition root, CLI, run summary."""
