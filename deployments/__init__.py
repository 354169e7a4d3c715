"""modserve's deployments: Ray-free model code, each wrapped by one thin Serve deployment."""
