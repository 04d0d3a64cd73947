"""Tile service settings (env prefix ``STACWORKS_TILES_``), checked once at start-up."""

from __future__ import annotations

import morecantile
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TilerSettings"]


class TilerSettings(BaseSettings):
    """What the tile service serves, how long clients may cache it, and its request limits.

    The limits exist because every one of them multiplies memory or CPU per request: a tile of
    ``tilesize=20000`` or a 50k-pixel preview is a denial of service, not a map.
    """

    model_config = SettingsConfigDict(env_prefix="STACWORKS_TILES_", extra="ignore")

    title: str = Field(default="stacworks tiles", description="Service title (OpenAPI, WMTS).")
    cors_origins: str = Field(default="*", description="Comma-separated allowed CORS origins.")
    tile_matrix_sets: list[str] = Field(
        default=["WebMercatorQuad", "WorldCRS84Quad"],
        description="TileMatrixSets offered (morecantile ids); others answer 422.",
    )
    cache_control: str = Field(
        default="public, max-age=3600",
        description="Cache-Control of tiles and images (they change only when data changes).",
    )
    cache_control_metadata: str = Field(
        default="public, max-age=60",
        description="Cache-Control of TileJSON, WMTS capabilities, info and other documents.",
    )
    max_tile_size: int = Field(default=1024, ge=64, description="Largest `tilesize` in pixels.")
    max_image_size: int = Field(
        default=2048, ge=64, description="Largest width/height/max_size of previews and parts."
    )
    max_tile_buffer: int = Field(default=64, ge=0, description="Largest `buffer`/`padding`.")
    max_assets: int = Field(default=16, ge=1, description="Most assets in one request.")
    max_expression_length: int = Field(default=512, ge=16, description="Longest expression.")
    max_expression_terms: int = Field(
        default=128, ge=4, description="Most tokens (names, numbers, operators) in an expression."
    )
    max_expression_depth: int = Field(default=8, ge=1, description="Deepest parenthesis nesting.")
    max_expression_bands: int = Field(
        default=8, ge=1, description="Most output bands (';'-separated parts) of an expression."
    )
    max_colormap_length: int = Field(default=16384, ge=64, description="Longest `colormap` JSON.")
    max_color_formula_length: int = Field(default=256, ge=16, description="Longest color_formula.")
    catalog_wmts_zooms: tuple[int, int] = Field(
        default=(0, 18),
        description="Zoom range advertised for collection layers in /WMTSCapabilities.xml when "
        "a collection's render has no minmax_zoom.",
    )
    wms_max_size: int = Field(
        default=2048, ge=64,
        description="Largest WIDTH/HEIGHT of a WMS GetMap (at most max_image_size).",
    )
    wms_max_layers: int = Field(default=4, ge=1, le=16, description="Most LAYERS in one GetMap.")
    layer_check_ttl_s: float = Field(
        default=60.0, ge=0,
        description="How long whether a collection draws from the store (WMTS/WMS layers) is "
        "remembered.",
    )
    max_pixels: int = Field(
        default=64 * 1024 * 1024, ge=65536,
        description="Most source pixels (per band) one read may take from an asset, at the "
        "file's best overview for the request; more is a 422 (a huge raster without overviews "
        "seen from far out would otherwise read gigabytes for one tile).",
    )
    max_points: int = Field(
        default=5_000_000, ge=1000,
        description="Most points one tile/part request may read from point clouds (COPC), all "
        "its assets together, at the level of detail of its zoom; more is a 422.",
    )
    pointcloud_cache_mb: int = Field(
        default=256, ge=1,
        description="Memory for decoded COPC octree nodes kept between tiles (LRU), in MB.",
    )
    copc_max_hierarchy_mb: int = Field(
        default=64, ge=1,
        description="Most bytes (MB) of header, VLRs and octree hierarchy pages read from one "
        "COPC while it is open (sizes come from the file; a corrupt one could name gigabytes); "
        "more is a 422.",
    )
    dtm_fill_pixels: int = Field(
        default=16, ge=0, le=64,
        description="How many pixels a point-cloud DTM tile fills gaps between ground points "
        "(under buildings, trees), ring by ring; also the margin read around each tile.",
    )
    time_budget_s: float = Field(
        default=15.0, gt=0,
        description="Longest a tile/preview/statistics request may work; past it the answer "
        "is a 503 and the request's remaining reads are skipped.",
    )
    shutdown_grace_s: float = Field(
        default=10.0, ge=0,
        description="On SIGTERM, how long `stacworks serve` lets requests in flight finish "
        "before cancelling them (their remaining reads are then skipped).",
    )
    gdal_cache_mb: int = Field(
        default=256, ge=16,
        description="GDAL block cache of the tile server, in MB (GDAL's own default is 5 % of "
        "the machine's memory); GDAL_CACHEMAX in the environment wins.",
    )
    open_datasets: int = Field(
        default=64, ge=0,
        description="GeoTIFF handles kept open between tile reads, so GDAL's block cache serves "
        "the next tile of the same file (0: open and close for every read). Local files only.",
    )
    dataset_idle_s: float = Field(
        default=60.0, ge=0,
        description="How long an unused GeoTIFF handle stays open (a deleted object's disk space "
        "is freed at the latest that long after its last tile).",
    )
    read_threads: int | None = Field(
        default=None, ge=1,
        description="Threads reading the assets of one item/mosaic in parallel (default: the "
        "CPU count when every store is a local folder, whose reads are CPU- and GIL-bound, so "
        "more threads only add hand-offs; 8 with S3, whose reads wait on the network).",
    )
    db_min_conn: int = Field(default=1, ge=1)
    db_max_conn: int = Field(default=10, ge=1)

    @field_validator("tile_matrix_sets")
    @classmethod
    def _known_tms(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(morecantile.tms.list()))
        if unknown or not value:
            raise ValueError(f"unknown TileMatrixSet(s) {unknown}; known: {morecantile.tms.list()}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TilerSettings:
        lo, hi = self.catalog_wmts_zooms
        if not 0 <= lo <= hi <= 30:
            raise ValueError("catalog_wmts_zooms must be (min, max) with 0 <= min <= max <= 30")
        if self.wms_max_size > self.max_image_size:
            raise ValueError("wms_max_size must not exceed max_image_size")
        if self.db_min_conn > self.db_max_conn:
            raise ValueError("db_min_conn must not exceed db_max_conn")
        return self

    @property
    def cors_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
