"""kind-tf: low-light image enhancement (KinD, Zero-DCE++) in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
