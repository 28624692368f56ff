"""parevo.toolchain package."""
