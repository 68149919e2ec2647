"""Training recipes that reproduce the figures quoted in the README."""
