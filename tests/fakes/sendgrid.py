"""Local fake of the sendgrid service (placeholder)."""
