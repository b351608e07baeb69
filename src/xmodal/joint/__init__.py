"""The joint space: one shared, L2-normalised space for video, audio and text.

::

    space = xmodal.load("runs/joint")                    # JointSpace.load
    v = space.encode_video(["a.mp4", frames])            # (2, E) float32, unit norm
    t = space.encode_text(["rotate the knife", "a pen"]) # (2, E)
    scores = t @ v.T                                     # cosine similarities

:mod:`~xmodal.joint.config` holds :class:`JointTrainConfig`; :mod:`~xmodal.joint.fit` trains a
space into a run directory (:func:`train_joint`); :mod:`~xmodal.joint.encode` loads one and
encodes with it (:class:`JointSpace`, and how a clip becomes a vector).
"""

from xmodal.joint.config import HEAD_THREADS, JointTrainConfig, head_threads
from xmodal.joint.encode import JOINT_FILE, JointSpace, prepare_sequences
from xmodal.joint.fit import build_features, load_dataset_features, train_joint

__all__ = [
    "HEAD_THREADS",
    "JOINT_FILE",
    "JointSpace",
    "JointTrainConfig",
    "build_features",
    "head_threads",
    "load_dataset_features",
    "prepare_sequences",
    "train_joint",
]
