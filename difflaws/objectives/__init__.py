"""Training objectives: diffusion over a noise process, and next-token prediction."""
