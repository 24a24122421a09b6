"""Images in: a user's ImageFolder data, and the synthetic scenarios the demos and benchmarks generate."""
