"""Data: sources yield a flat token stream per split; the packer cuts it into sequences."""
