"""Location security: end-to-end location sharing at a chosen precision, constant-rate traffic."""
