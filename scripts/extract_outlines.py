"""Extract the country outlines the offline map draws from Natural Earth's 1:110m admin-0 data.

The source is the copy of ``ne_110m_admin_0_countries`` (Natural Earth, public domain) shipped
as ``naturalearth_lowres`` inside the geopandas 0.14.4 wheel on PyPI. Reproduce the file with:

    pip download --no-deps -d /tmp/ne geopandas==0.14.4
    (cd /tmp/ne && unzip -o geopandas-0.14.4-py3-none-any.whl 'geopandas/datasets/*')
    pip install --target /tmp/ne/lib pyshp==3.1.6
    PYTHONPATH=/tmp/ne/lib python scripts/extract_outlines.py \
        /tmp/ne/geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp

It keeps the countries of West Africa, the Sahel and their neighbours, rounds coordinates to
0.01 degree (about 1 km, finer than the 1:110m source) and writes
``fleet/static/geo/countries.geojson``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import shapefile  # type: ignore[import-not-found]

KEEP = {
    "BEN": "BJ",
    "BFA": "BF",
    "CAF": "CF",
    "CIV": "CI",
    "CMR": "CM",
    "COD": "CD",
    "COG": "CG",
    "DZA": "DZ",
    "EGY": "EG",
    "ESH": "EH",
    "GAB": "GA",
    "GHA": "GH",
    "GIN": "GN",
    "GMB": "GM",
    "GNB": "GW",
    "GNQ": "GQ",
    "LBR": "LR",
    "LBY": "LY",
    "MAR": "MA",
    "MLI": "ML",
    "MRT": "MR",
    "NER": "NE",
    "NGA": "NG",
    "SDN": "SD",
    "SEN": "SN",
    "SLE": "SL",
    "SSD": "SS",
    "TCD": "TD",
    "TGO": "TG",
}
OUT = Path(__file__).resolve().parents[1] / "fleet" / "static" / "geo" / "countries.geojson"


def _rings(shape: Any) -> list[list[list[float]]]:
    parts = [*shape.parts, len(shape.points)]
    rings = []
    for start, end in itertools.pairwise(parts):
        # Shapefiles wind outer rings clockwise; GeoJSON (RFC 7946) wants them anticlockwise.
        ring = [[round(x, 2), round(y, 2)] for x, y in reversed(shape.points[start:end])]
        deduped = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
        if len(deduped) >= 4:
            rings.append(deduped)
    return rings


def main(source: str) -> None:
    reader = shapefile.Reader(source)
    features = []
    for item in reader.iterShapeRecords():
        record = item.record.as_dict()
        iso2 = KEEP.get(record["iso_a3"])
        if iso2 is None:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {"iso_a2": iso2, "name": record["name"]},
                # At 1:110m these countries have no holes: every part is a polygon of its own.
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[ring] for ring in _rings(item.shape)],
                },
            }
        )
    features.sort(key=lambda f: f["properties"]["iso_a2"])
    collection = {
        "type": "FeatureCollection",
        "source": "Natural Earth 1:110m Cultural Vectors, Admin 0 - Countries "
        "(naturalearthdata.com), as shipped in geopandas 0.14.4 (naturalearth_lowres)",
        "license": "Public domain (Natural Earth terms of use)",
        "features": features,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(collection, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"{len(features)} countries written to {OUT.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main(sys.argv[1])
