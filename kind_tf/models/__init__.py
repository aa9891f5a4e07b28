"""kind_tf.models."""
