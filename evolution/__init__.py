"""parevo.evolution package."""
