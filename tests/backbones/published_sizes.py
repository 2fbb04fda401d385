"""Published parameter counts of the VideoMAE family, in millions (with their classifier head).

ViT-S/B/L/H: VideoMAE (Tong et al., NeurIPS 2022), model tables and MCG-NJU/VideoMAE
MODEL_ZOO.md ("#Params" column). ViT-g: VideoMAE V2 (Wang et al., CVPR 2023), Table 1 (1,011M).
Used by the size test and by benchmarks/backbone.py.
"""

PUBLISHED_PARAMS_M = {
    "videomae_small_patch16": 22.0,
    "videomae_base_patch16": 87.0,
    "videomae_large_patch16": 305.0,
    "videomae_huge_patch16": 633.0,
    "videomaev2_giant_patch14": 1011.0,
}
