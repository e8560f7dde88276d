"""Image parameterizations for feature visualization.

An image is not optimized as raw pixels only: Olah, Mordvintsev & Schubert, "Feature
Visualization" (Distill 2017) show that optimizing in a decorrelated space (Fourier
coefficients scaled by a 1/f spectrum, colours rotated by the square root of the ImageNet
colour covariance) gives images with far less high-frequency noise.  Each parameterization
here owns its learnable tensors (``params()``) and maps them to a batch of images in
``[0, 1]`` (``image()``).
"""
from __future__ import annotations


import numpy as np
import torch

# Square root of the colour covariance of ImageNet (Lucid's constants), columns normalised.
_COLOR_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                            [0.27, 0.00, -0.05],
                            [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_CORRELATION = _COLOR_SVD_SQRT / np.max(np.linalg.norm(_COLOR_SVD_SQRT, axis=0))


class ImageParam:
    """Base class: learnable tensors -> ``(batch, channels, h, w)`` images in ``[0, 1]``."""

    def __init__(self, batch: int, channels: int, height: int, width: int, decorrelate: bool = True,
                 device=None, generator: torch.Generator | None = None):
        self.shape = (batch, channels, height, width)
        self.decorrelate = decorrelate and channels == 3
        self.device = torch.device(device or "cpu")

    def params(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def raw(self) -> torch.Tensor:
        """The unconstrained image before colour mixing and the sigmoid."""
        raise NotImplementedError

    def image(self) -> torch.Tensor:
        x = self.raw()
        if self.decorrelate:
            m = torch.as_tensor(COLOR_CORRELATION, device=x.device, dtype=x.dtype)
            x = torch.einsum("ij,bjhw->bihw", m, x)
        return torch.sigmoid(x)

    __call__ = image


class PixelImage(ImageParam):
    """Each pixel a parameter (the plain baseline).

    Example:
        >>> PixelImage(2, 3, 16, 16).image().shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, batch, channels, height, width, sd: float = 0.01, decorrelate: bool = True,
                 device=None, generator=None):
        super().__init__(batch, channels, height, width, decorrelate, device)
        t = torch.randn(self.shape, generator=generator) * sd
        self.pixels = t.to(self.device).requires_grad_(True)

    def params(self):
        return [self.pixels]

    def raw(self):
        return self.pixels


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """Frequency magnitude of each coefficient of a real 2D FFT of an ``h x w`` image."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


class FFTImage(ImageParam):
    """Fourier coefficients scaled by ``1 / f**decay_power`` (a natural-image spectrum), so
    gradient steps move low frequencies more than high ones.

    Example:
        >>> FFTImage(1, 3, 32, 32).image().shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(self, batch, channels, height, width, sd: float = 0.01, decay_power: float = 1.0,
                 decorrelate: bool = True, device=None, generator=None):
        super().__init__(batch, channels, height, width, decorrelate, device)
        freqs = rfft2d_freqs(height, width)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power
        self.scale = torch.as_tensor(scale, dtype=torch.float32, device=self.device)
        spec = torch.randn((batch, channels, *freqs.shape, 2), generator=generator) * sd
        self.spectrum = spec.to(self.device).requires_grad_(True)

    def params(self):
        return [self.spectrum]

    def raw(self):
        h, w = self.shape[-2:]
        spec = torch.view_as_complex(self.spectrum) * self.scale
        img = torch.fft.irfft2(spec, s=(h, w), norm="ortho")  # = Lucid's sqrt(hw)-scaled irfft2d
        return img / 4.0  # Lucid's constant: keeps the sigmoid out of saturation at the start


PARAMS = {"pixels": PixelImage, "pixel": PixelImage, "fft": FFTImage}


def make_param(kind: str | ImageParam, batch: int, channels: int, height: int, width: int, *,
               decorrelate: bool = True, device=None, generator=None) -> ImageParam:
    """An :class:`ImageParam` from a name (``"fft"`` or ``"pixels"``) or pass one through."""
    if isinstance(kind, ImageParam):
        return kind
    if kind not in PARAMS:
        raise ValueError(f"param must be one of {sorted(set(PARAMS))} or an ImageParam, not {kind!r}.")
    return PARAMS[kind](batch, channels, height, width, decorrelate=decorrelate, device=device,
                        generator=generator)


def high_frequency_energy(images: torch.Tensor | np.ndarray, cutoff: float = 0.25) -> float:
    """Fraction of spectral energy (mean removed) above ``cutoff`` cycles per pixel.

    Example:
        >>> flat = torch.zeros(1, 1, 16, 16)
        >>> high_frequency_energy(flat + torch.randn(1, 1, 16, 16)) > 0.5
        True
    """
    x = torch.as_tensor(images, dtype=torch.float64)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(x).abs() ** 2
    f = torch.as_tensor(rfft2d_freqs(x.shape[-2], x.shape[-1]))
    total = float(power.sum())
    return float(power[..., f > cutoff].sum()) / total if total > 0 else 0.0
