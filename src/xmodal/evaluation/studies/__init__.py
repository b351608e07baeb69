"""xmodal.evaluation.studies."""
