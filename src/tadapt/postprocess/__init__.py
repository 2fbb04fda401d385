"""Post-processing of decoded detections: hard NMS, Soft-NMS and score voting."""

from tadapt.postprocess.nms import NMSMethod, VotingWeights, batched_nms, nms, soft_nms

__all__ = ["NMSMethod", "VotingWeights", "batched_nms", "nms", "soft_nms"]
