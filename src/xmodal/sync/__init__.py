"""Audio-visual sync as an application: check a video, fix it, train on your own footage."""
