"""Report page pieces that decide what a reader sees about hole filling."""

import pandas as pd

from shapeprep.report.page import distribution_figures, gallery_picks


def table():
    return pd.DataFrame({
        "object_id": [f"o{i}" for i in range(6)],
        "status": ["ok"] * 6,
        "failed_stage": [""] * 6,
        "validate_deviation_chamfer": [0.3, 0.4, 0.3, 2.5, 0.3, 0.3],
        "validate_deviation_invented_area": [0.0, 0.0, 120.0, 3.0, 0.0, 40.0],
        "validate_deviation_invented_fraction": [0.0, 0.0, 0.08, 0.01, 0.0, 0.02],
        "watertight_fill": ["none", "filled", "filled", "open", "reverted", "filled"],
        "watertight_widest_hole_closed_voxels": [0.0, 6.0, 14.0, 0.0, 0.0, 9.0],
    })


def test_gallery_pictures_the_most_invented_surface():
    picks = gallery_picks(table(), sample=0, worst=2, failures=0)
    invented = picks[picks["why"] == "most invented surface"]["object_id"].tolist()
    assert invented == ["o2", "o5"]  # by invented area, not by mean deviation (o3 is the worst there)
    assert picks[picks["why"] == "worst deviation"]["object_id"].tolist() == ["o3", "o1"]


def test_distributions_show_invented_area_widest_hole_and_fill_decisions():
    figures = distribution_figures(table())
    titles = {title for _, title in figures}
    assert {"Hole fill decisions", "Widest hole closed (voxels)",
            "Invented share of surface (> 1.5 voxels from the source)"} <= titles
