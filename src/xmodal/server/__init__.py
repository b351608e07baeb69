"""xmodal.server."""
