"""kind_tf.convert."""
