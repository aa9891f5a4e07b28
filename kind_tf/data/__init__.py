"""kind_tf.data."""
