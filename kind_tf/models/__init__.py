"""Networks: KinD's three stages (and, beside them, Zero-DCE++ and the improved U-Net)."""

from kind_tf.models.decom_net import DecomNet
from kind_tf.models.illumination_adjust_net import IlluminationAdjustNet
from kind_tf.models.improved_unet import ImprovedUNet
from kind_tf.models.restoration_net import RestorationNet

__all__ = ["DecomNet", "RestorationNet", "IlluminationAdjustNet", "ImprovedUNet"]
