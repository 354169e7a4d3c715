"""Image analyzer: cheap checks and decoding, the two-model scorer, its thin Serve wrapper."""
