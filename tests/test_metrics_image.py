import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from foresight_models.metrics.image import (
    LPIPS_BACKBONE_URLS,
    LPIPSWeightsError,
    load_lpips_network,
    lpips,
    pixel_l1,
    psnr,
    ssim,
)


def _pair(seed: int, shape=(3, 3, 24, 20)):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g)
    prediction = (target + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    return prediction, target


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image(seed):
    prediction, target = _pair(seed)
    ours = ssim(prediction, target)
    for i in range(prediction.shape[0]):
        reference = structural_similarity(
            prediction[i].double().numpy(),
            target[i].double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1,
            channel_axis=0,
        )
        assert abs(float(ours[i]) - reference) < 1e-4


def test_ssim_identical_is_one_and_data_range_scales():
    _, target = _pair(2)
    torch.testing.assert_close(ssim(target, target), torch.ones(3))
    prediction, target = _pair(3)
    torch.testing.assert_close(ssim(prediction * 255, target * 255, data_range=255), ssim(prediction, target))


def test_psnr_and_l1_hand_computed():
    target = torch.zeros(2, 1, 4, 4)
    prediction = torch.full((2, 1, 4, 4), 0.1)
    prediction[1] = 0.5
    torch.testing.assert_close(pixel_l1(prediction, target), torch.tensor([0.1, 0.5]))
    torch.testing.assert_close(psnr(prediction, target), torch.tensor([20.0, 10 * np.log10(4.0)], dtype=torch.float32))
    assert torch.isinf(psnr(target, target)).all()


def test_psnr_cap_is_explicit():
    target = torch.zeros(2, 1, 4, 4)
    prediction = target.clone()
    prediction[1] = 0.1  # 20 dB
    torch.testing.assert_close(psnr(prediction, target, max_db=100.0), torch.tensor([100.0, 20.0]))
    torch.testing.assert_close(psnr(prediction, target, max_db=15), torch.tensor([15.0, 15.0]))
    assert torch.isinf(psnr(prediction, target)[0])  # no cap unless asked for
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"max_db: expected a finite number > 0.0, got"):
            psnr(prediction, target, max_db=bad)
    for bad in (True, "100"):  # a wrong type is a TypeError
        with pytest.raises(TypeError, match=f"max_db: expected a real number, got {bad!r}"):
            psnr(prediction, target, max_db=bad)


@pytest.mark.parametrize("metric", [pixel_l1, psnr, ssim])
def test_bad_inputs_are_rejected(metric):
    prediction, target = _pair(4)
    with pytest.raises(ValueError, match="same shape"):
        metric(prediction, target[:, :, :-1])
    with pytest.raises(ValueError, match=r"must lie in \[0.0, 1.0\]"):
        metric(prediction * 3, target)
    bad = prediction.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        metric(bad, target)
    with pytest.raises(ValueError, match="4 dimensions"):
        metric(prediction[0], target[0])
    with pytest.raises(TypeError, match="torch.Tensor"):
        metric(prediction.numpy(), target)


def test_ssim_rejects_images_smaller_than_window():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"window_size": 4}, ValueError, "window_size: expected a positive odd int, got 4"),
        ({"window_size": 0}, ValueError, "window_size: expected an int >= 1, got 0"),
        ({"window_size": 7.0}, TypeError, "window_size: expected an int, got 7.0"),
        ({"sigma": 0}, ValueError, "sigma: expected a finite number > 0.0, got 0"),
        ({"data_range": 0}, ValueError, "data_range: expected a finite number > 0.0, got 0"),
        ({"data_range": True}, TypeError, "data_range: expected a real number, got True"),
    ],
)
def test_ssim_arguments_are_checked(arguments, error, message):
    prediction, target = _pair(5)
    with pytest.raises(error, match=message):
        ssim(prediction, target, **arguments)


def test_lpips_missing_weights_error_names_the_file(tmp_path):
    missing = tmp_path / "alexnet-owt-7be5be79.pth"
    with pytest.raises(LPIPSWeightsError, match="alexnet-owt-7be5be79.pth") as info:
        lpips(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), backbone_weights=missing)
    assert "download.pytorch.org" in str(info.value) and "random_backbone=True" in str(info.value)


def test_lpips_random_backbone_and_local_weights_file(tmp_path):
    import torchvision

    torch.manual_seed(0)
    network = load_lpips_network("alex", random_backbone=True)
    # the LPIPS linear layers come from torchmetrics' shipped file: calibrated, non-negative weights
    assert all(bool((lin.model[-1].weight >= 0).all()) for lin in network.lins)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 64, 64, generator=g), torch.rand(2, 3, 64, 64, generator=g)
    torch.testing.assert_close(lpips(a, a, network=network), torch.zeros(2))
    different = lpips(a, b, network=network)
    assert different.shape == (2,) and bool((different > 0).all())

    # a torchvision checkpoint given as a local file is loaded into the backbone
    alexnet = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet.pth"
    torch.save(alexnet.state_dict(), path)
    loaded = load_lpips_network("alex", backbone_weights=path)
    torch.testing.assert_close(loaded.net.slice1[0].weight, alexnet.features[0].weight)
    torch.testing.assert_close(dict(loaded.net.slice5.named_children())["10"].weight, alexnet.features[10].weight)
    # the URLs named in the missing-weights error are torchvision's
    assert LPIPS_BACKBONE_URLS == {
        "alex": torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url,
        "vgg": torchvision.models.VGG16_Weights.IMAGENET1K_V1.url,
    }
    with pytest.raises(ValueError, match="RGB"):
        lpips(a[:, :1], b[:, :1], network=network)
