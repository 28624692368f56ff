"""parevo.server package."""
