"""Local fake of the arxiv service (placeholder)."""
