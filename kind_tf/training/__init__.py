"""kind_tf.training."""
