"""Adapters that let other tools drive difflaws runs; each imports its tool only when used."""
