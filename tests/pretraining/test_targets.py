import torch

from tadapt.pretraining import masked_mse, mean_prediction_loss, patch_targets

MEAN = (0.4, 0.5, 0.6)
STD = (0.2, 0.25, 0.3)


def _normalised(pixels: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1, 1)
    return (pixels - mean) / std


def test_raw_targets_are_each_tokens_pixels_in_p0_p_p_c_order() -> None:
    pixels = torch.rand(2, 3, 4, 8, 12)  # (B, C, T, H, W), tubelet 2, patch 4
    targets = patch_targets(
        _normalised(pixels), patch_size=4, tubelet_size=2, mean=MEAN, std=STD, normalize=False
    )
    assert targets.shape == (2, 2 * 2 * 3, 2 * 4 * 4 * 3)
    # token (t=1, h=1, w=2) of clip 1 is number 1 * 6 + 1 * 3 + 2 = 11
    cube = pixels[1, :, 2:4, 4:8, 8:12]  # (C, p0, p, p)
    torch.testing.assert_close(
        targets[1, 11], cube.permute(1, 2, 3, 0).flatten(), atol=1e-6, rtol=0
    )


def test_normalised_targets_have_zero_mean_unit_variance_per_channel() -> None:
    pixels = torch.rand(1, 3, 2, 8, 8)
    targets = patch_targets(_normalised(pixels), patch_size=4, tubelet_size=2, mean=MEAN, std=STD)
    per_channel = targets.reshape(1, 4, 2 * 4 * 4, 3)
    torch.testing.assert_close(per_channel.mean(dim=2), torch.zeros(1, 4, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        per_channel.var(dim=2, unbiased=True), torch.ones(1, 4, 3), atol=1e-3, rtol=0
    )


def test_masked_mse_counts_only_the_weighted_tokens() -> None:
    predictions = torch.zeros(1, 3, 2)
    targets = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [10.0, 10.0]]])
    loss = masked_mse(predictions, targets, torch.tensor([[True, True, False]]))
    assert loss.item() == (1.0 + 4.0) / 2


def test_predicting_zeros_costs_the_mean_prediction_loss_on_any_video() -> None:
    floor = mean_prediction_loss(patch_size=4, tubelet_size=2)
    assert floor == 1 - 1 / 32  # 2 x 4 x 4 pixels per channel and cube
    for pixels in (torch.rand(2, 3, 4, 8, 8), torch.rand(2, 3, 4, 8, 8) ** 4):  # two "videos"
        targets = patch_targets(
            _normalised(pixels), patch_size=4, tubelet_size=2, mean=MEAN, std=STD
        )
        everything = torch.ones(targets.shape[:2], dtype=torch.bool)
        loss = masked_mse(torch.zeros_like(targets), targets, everything)
        assert abs(loss.item() - floor) < 1e-4
