"""The what-if charts: both forecasts and both bands on the S-curve; the changed segments marked on the map."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from portfolio import chains, charts, monthly, scenarios, store


@pytest.fixture(scope="module")
def outcome(sample_db_template: Path) -> tuple[pl.DataFrame, scenarios.Outcome, chains.ChainAnalysis]:
    with store.connect(sample_db_template, read_only=True) as con:
        month = store.progress_months(con)[-1]
        out = scenarios.apply(con, scenarios.Scenario(changes=(scenarios.Change("cancel", "CC2016-0001"),)),
                              as_of=month)
        frame = monthly.targets_monthly(con, as_of=month, metric="industrial_investment")
        analysis = chains.analysis(con, year=month.year)
    return frame, out, analysis


def sides(out: scenarios.Outcome) -> tuple[dict[str, float], dict[str, float]]:
    row = out.metrics().filter(pl.col("metric") == "industrial_investment").row(0, named=True)
    band = ("forecast_wan", "forecast_low_wan", "forecast_high_wan")
    return {k: row[f"{k}_before"] for k in band}, {k: row[f"{k}_after"] for k in band}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_scenario_curve_draws_both_forecasts_with_their_bands(outcome: tuple, lang: str) -> None:
    frame, out, _analysis = outcome
    before, after = sides(out)
    d = charts.scenario_curve(frame, before, after, lang=lang).to_dict()
    areas = next(layer["data"]["values"] for layer in d["layer"] if layer["mark"]["type"] == "area")
    year_end = {a["series"]: (a["lo"], a["hi"]) for a in areas if a["m"] == 12}
    assert len(year_end) == 2
    for side in (before, after):
        lo, hi = side["forecast_low_wan"] / 10_000, side["forecast_high_wan"] / 10_000
        assert (lo, hi) in [pytest.approx(v) for v in year_end.values()]
    # the legend names carry the year-end figures, one decimal
    names = d["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert any(n.endswith(f"{before['forecast_wan'] / 10_000:,.1f}") for n in names)
    assert any(n.endswith(f"{after['forecast_wan'] / 10_000:,.1f}") for n in names)
    assert charts.to_svg(charts.scenario_curve(frame, before, after, lang=lang)).startswith("<svg")


def test_the_chain_map_marks_the_changed_segments_only_when_asked(outcome: tuple) -> None:
    _frame, _out, analysis = outcome
    nodes, edges = chains.map_frames_of(analysis, chain="auto")
    plain = charts.chain_map(nodes, edges).to_dict()
    marked = charts.chain_map(nodes, edges, changed={"auto.vehicle"}).to_dict()
    assert len(marked["layer"]) == len(plain["layer"]) + 2
    rings = [layer for layer in marked["layer"] if layer["mark"].get("color") == charts.CHANGED_COLOR]
    assert [v["name"] for v in rings[0]["data"]["values"]] == ["整车制造"]
    assert "◆" in str(marked["title"]["subtitle"]) and "◆" not in str(plain["title"]["subtitle"])
