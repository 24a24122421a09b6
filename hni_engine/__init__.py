"""The hni engine: from a trained classifier to concept graphs and back (torch; see README)."""
