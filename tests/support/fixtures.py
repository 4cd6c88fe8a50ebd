"""Fixtures shared across test modules (servers that speak real protocols, factories)."""
