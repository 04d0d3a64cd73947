"""to_cog / validate_cog on the real sample rasters, and on broken copies of them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from samples import RGB_TIF, S2_COG, S2_JP2, folder_is_empty, sha256

from ingest.convert import (
    ConversionError,
    EmptyInputError,
    InputNotFoundError,
    InvalidOutputError,
    NotGeoreferencedError,
    TruncatedInputError,
    UnreadableInputError,
    UnsupportedInputError,
    to_cog,
)
from ingest.validate import ValidationResult, validate_cog

pytestmark = pytest.mark.usefixtures("shared_data")  # missing sample data fails the tests


def assert_same_raster(src: Path, dst: Path) -> None:
    """Same pixels, mask, georeferencing and per-band metadata."""
    with rasterio.open(src) as a, rasterio.open(dst) as b:
        assert (a.width, a.height, a.count, a.dtypes) == (b.width, b.height, b.count, b.dtypes)
        assert a.crs == b.crs
        assert a.transform.almost_equals(b.transform)
        assert a.nodata == b.nodata
        assert a.scales == b.scales
        assert a.offsets == b.offsets
        np.testing.assert_array_equal(a.read(), b.read())
        np.testing.assert_array_equal(a.dataset_mask(), b.dataset_mask())


def test_non_cog_becomes_a_valid_cog_with_identical_pixels(tmp_path: Path) -> None:
    dst = tmp_path / "out" / "rgb.tif"
    assert not validate_cog(RGB_TIF).is_valid  # the input really is not a COG

    result = to_cog(RGB_TIF, dst)

    assert result.path == dst and not result.copied and result.profile == "deflate"
    assert validate_cog(dst) == ValidationResult(True, (), ())
    assert_same_raster(RGB_TIF, dst)
    with rasterio.open(dst) as cog:
        assert cog.block_shapes[0] == (512, 512)  # tiled, not striped
        assert cog.overviews(1) == list(result.overviews) and result.overviews
        assert cog.nodata == 0
        assert cog.compression.value == "DEFLATE"
        assert cog.tags()["OVERVIEW_RESAMPLING"] == "NEAREST"
    assert [p.name for p in dst.parent.iterdir()] == ["rgb.tif"]  # no temporary file left


def test_scale_offset_and_descriptions_are_kept(rgb_copy: Path, tmp_path: Path) -> None:
    with rasterio.open(rgb_copy, "r+") as ds:
        ds.scales = (0.5, 0.25, 2.0)
        ds.offsets = (1.0, -3.0, 0.5)
        ds.set_band_description(1, "red")
        ds.update_tags(1, wavelength="0.66")
    dst = tmp_path / "scaled.tif"
    to_cog(rgb_copy, dst, overview_resampling="average")
    assert_same_raster(rgb_copy, dst)
    with rasterio.open(dst) as cog:
        assert cog.descriptions[0] == "red"
        assert cog.tags(1)["wavelength"] == "0.66"
        assert cog.tags()["OVERVIEW_RESAMPLING"] == "AVERAGE"


def test_internal_mask_is_kept(tmp_path: Path) -> None:
    masked = tmp_path / "masked.tif"
    with rasterio.open(RGB_TIF) as src:
        profile = src.profile | {"nodata": None}
        data, mask = src.read(), src.dataset_mask()
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **profile) as ds:
        ds.write(data)
        ds.write_mask(mask)
    dst = tmp_path / "cog.tif"
    to_cog(masked, dst)
    assert validate_cog(dst).is_valid
    with rasterio.open(dst) as cog:
        assert cog.nodata is None
        assert cog.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        np.testing.assert_array_equal(cog.dataset_mask(), mask)
        np.testing.assert_array_equal(cog.read(), data)


def test_existing_cog_is_copied_byte_for_byte(tmp_path: Path) -> None:
    dst = tmp_path / "b02.tif"
    result = to_cog(S2_COG, dst)
    assert result.copied and result.profile is None
    assert sha256(dst) == sha256(S2_COG)


def test_force_reencodes_an_existing_cog(tmp_path: Path) -> None:
    dst = tmp_path / "b02.tif"
    result = to_cog(S2_COG, dst, force=True, profile="zstd")
    assert not result.copied and result.profile == "zstd"
    assert sha256(dst) != sha256(S2_COG)
    assert validate_cog(dst).is_valid
    assert_same_raster(S2_COG, dst)


def test_sentinel2_jpeg2000_band_becomes_a_cog(tmp_path: Path) -> None:
    assert S2_JP2.is_file(), f"JPEG2000 sample missing: {S2_JP2}"
    dst = tmp_path / "B01.tif"
    result = to_cog(S2_JP2, dst)
    assert not result.copied and result.dtype == "uint16"
    assert (result.width, result.height) == (1830, 1830)
    assert validate_cog(dst).is_valid
    assert_same_raster(S2_JP2, dst)


def test_lossy_profile_refuses_16_bit_input(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInputError):
        to_cog(S2_COG, tmp_path / "x.tif", profile="jpeg", force=True)
    assert folder_is_empty(tmp_path)


# --- broken inputs: the precise error, and nothing left in the destination folder -----------


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _ungeoreferenced(path: Path) -> Path:
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint8"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(np.ones((1, 64, 64), dtype="uint8"))
    return path


def _truncated_cog(path: Path) -> Path:
    data = S2_COG.read_bytes()
    return _write(path, data[: len(data) // 2])


def _truncated_tif(path: Path) -> Path:
    data = RGB_TIF.read_bytes()
    return _write(path, data[: len(data) // 2])


def _truncated_jp2(path: Path) -> Path:
    data = S2_JP2.read_bytes()
    return _write(path.with_suffix(".jp2"), data[: len(data) // 2])


BROKEN = {
    "empty": (lambda p: _write(p, b""), EmptyInputError),
    "garbage": (lambda p: _write(p, b"not a raster\n" * 50), UnreadableInputError),
    "truncated_striped_tiff": (_truncated_tif, UnreadableInputError),
    "truncated_cog": (_truncated_cog, TruncatedInputError),
    "truncated_jp2": (_truncated_jp2, UnreadableInputError),
    "not_georeferenced": (_ungeoreferenced, NotGeoreferencedError),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_raises_precise_error_and_leaves_nothing(case: str, tmp_path: Path) -> None:
    make, error = BROKEN[case]
    src = make(tmp_path / "input.tif")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(error) as excinfo:
        to_cog(src, out / "result.tif")
    assert isinstance(excinfo.value, ConversionError)
    assert excinfo.value.path == str(src)
    assert folder_is_empty(out)


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        to_cog(tmp_path / "nope.tif", tmp_path / "out" / "x.tif")
    assert folder_is_empty(tmp_path / "out")


def test_output_failing_validation_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename happens only after validation: a rejected output never reaches dst."""
    import ingest.convert.cog as cog_module

    monkeypatch.setattr(
        cog_module, "validate_cog", lambda path: ValidationResult(False, ("broken on purpose",))
    )
    out = tmp_path / "out"
    with pytest.raises(InvalidOutputError, match="broken on purpose"):
        to_cog(RGB_TIF, out / "x.tif")
    assert folder_is_empty(out)


def test_failed_conversion_keeps_the_previous_destination(tmp_path: Path) -> None:
    dst = tmp_path / "keep.tif"
    to_cog(RGB_TIF, dst)
    before = sha256(dst)
    with pytest.raises(EmptyInputError):
        to_cog(_write(tmp_path / "empty.tif", b""), dst)
    assert sha256(dst) == before


# --- validate_cog answers, never raises -------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_cog_reports_broken_files(case: str, tmp_path: Path) -> None:
    make, _ = BROKEN[case]
    result = validate_cog(make(tmp_path / "input.tif"))
    if case == "not_georeferenced":  # a valid layout; the missing CRS is a warning
        assert result.is_valid and any("coordinate reference" in w for w in result.warnings)
    else:
        assert not result.is_valid and result.errors


def test_validate_cog_flags_truncation_that_cog_validate_misses(tmp_path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    broken = _truncated_cog(tmp_path / "cut.tif")
    assert cog_validate(str(broken), quiet=True)[0]  # rio-cogeo alone is fooled
    result = validate_cog(broken)
    assert not result.is_valid
    assert "truncated" in result.errors[0]


def test_validate_cog_unpacks_like_rio_cogeo() -> None:
    is_valid, errors, warnings = validate_cog(S2_COG)
    assert is_valid and errors == () and warnings == ()
    assert validate_cog(Path("/nonexistent.tif")).errors == ("file does not exist",)
