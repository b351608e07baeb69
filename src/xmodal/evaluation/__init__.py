"""xmodal.evaluation."""
