"""One report model, one renderer per output format."""
