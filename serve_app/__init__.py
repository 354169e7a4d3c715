"""The modserve Serve application: HTTP contract, graph composition and entry points."""
