"""The pydeck map: events as coloured points, footprints as thin outlines.

Without a map style the map needs no network (no basemap tiles); a MapLibre
style URL (for example of a local tile server) adds a basemap.
"""

from __future__ import annotations

import math

import pandas as pd
import pydeck as pdk

TOOLTIP = {
    "html": "<b>{name_zh}</b> {name_en}<br/>score {score_txt}<br/>{time_txt}<br/>± {accuracy_txt} m",
    "style": {"backgroundColor": "#263238", "color": "white", "fontSize": "12px"},
}


def _view(rows: pd.DataFrame) -> pdk.ViewState:
    if rows.empty:
        return pdk.ViewState(latitude=30.27, longitude=120.15, zoom=12)
    span = max(float(rows["lon"].max() - rows["lon"].min()), float(rows["lat"].max() - rows["lat"].min()))
    # A span of 360 degrees fits zoom 0; each zoom level halves it.
    zoom = min(20.0, max(3.0, math.log2(360.0 / max(span, 1e-5)) - 1.0))
    return pdk.ViewState(latitude=float(rows["lat"].mean()), longitude=float(rows["lon"].mean()), zoom=zoom)


def build_deck(rows: pd.DataFrame, *, map_style: str | None = None) -> pdk.Deck:
    """A deck with a ScatterplotLayer of ``rows`` (from ``dashboard.data.map_rows``)."""
    layers = []
    with_fp = rows[rows["footprint_ring"].notna()] if not rows.empty else rows
    if not with_fp.empty:
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                id="footprints",
                data=with_fp[["footprint_ring", "color"]],
                get_polygon="footprint_ring",
                filled=False,
                stroked=True,
                get_line_color="color",
                line_width_min_pixels=1,
                pickable=False,
            )
        )
    layers.append(
        pdk.Layer(
            "ScatterplotLayer",
            id="events",
            data=rows[["lon", "lat", "color", "name_zh", "name_en", "score_txt", "time_txt", "accuracy_txt"]],
            get_position=["lon", "lat"],
            get_fill_color="color",
            get_radius=1.5,
            radius_min_pixels=4,
            radius_max_pixels=12,
            stroked=True,
            get_line_color=[40, 40, 40],
            line_width_min_pixels=1,
            pickable=True,
        )
    )
    return pdk.Deck(
        layers=layers,
        initial_view_state=_view(rows),
        map_provider="carto" if map_style else None,
        map_style=map_style,
        tooltip=TOOLTIP,
    )
