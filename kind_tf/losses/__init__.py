"""kind_tf.losses."""
