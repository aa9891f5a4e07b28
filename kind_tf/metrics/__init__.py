"""kind_tf.metrics."""
