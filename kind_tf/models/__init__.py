"""Networks: KinD's three stages, KinD++'s MSIA restoration net (beside them Zero-DCE++ and the improved U-Net)."""

from kind_tf.models.decom_net import DecomNet
from kind_tf.models.illumination_adjust_net import IlluminationAdjustNet
from kind_tf.models.improved_unet import ImprovedUNet
from kind_tf.models.msia_net import MSIANet
from kind_tf.models.restoration_net import RestorationNet

__all__ = ["DecomNet", "RestorationNet", "IlluminationAdjustNet", "ImprovedUNet", "MSIANet"]
