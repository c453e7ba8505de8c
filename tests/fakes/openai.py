"""Local fake of the openai service (placeholder)."""
